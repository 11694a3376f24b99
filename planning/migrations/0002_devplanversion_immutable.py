from django.db import migrations

from core.db import GuardTable


class Migration(migrations.Migration):
    dependencies = [("planning", "0001_initial")]

    operations = [
        GuardTable(
            "devplanversion",
            reject_delete=False,
            columns=("plan_id", "number", "snapshot", "markdown", "change_summary", "created_at"),
        ),
    ]
