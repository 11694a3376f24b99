from django.db import migrations

from core.db import GuardTable

# TRUNCATE fires no row trigger: these add a statement trigger per guarded table on
# PostgreSQL (SQLite has no TRUNCATE; its DELETE guards cover `DELETE FROM` of a whole
# table). The UPDATE and DELETE guards are 0003's and 0011's.
APPEND_ONLY = ("toolcall", "decisionlog", "planningcycle", "metric")
IMMUTABLE = ("review", "reviewcomment")


class Migration(migrations.Migration):
    dependencies = [("agents", "0011_review_and_merge")]

    operations = [
        *(
            GuardTable(
                name,
                reject_update=False,
                reject_delete=False,
                reject_truncate=True,
                kind="append-only" if name in APPEND_ONLY else "immutable",
            )
            for name in APPEND_ONLY + IMMUTABLE
        ),
    ]
