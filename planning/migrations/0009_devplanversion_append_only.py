import django.db.models.deletion
from django.db import migrations, models

from core.db import GuardTable


class Migration(migrations.Migration):
    dependencies = [("planning", "0008_plain_names_and_case_insensitive_order")]

    operations = [
        # A saved version is history: deleting its plan (or project) is refused up front,
        # as for the audit log, rather than by the trigger half-way through a cascade.
        migrations.AlterField(
            model_name="devplanversion",
            name="plan",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="versions",
                to="planning.devplan",
            ),
        ),
        # Its UPDATE guard is 0002's.
        GuardTable("devplanversion", reject_update=False, reject_delete=True, reject_truncate=True),
    ]
