from django.db import migrations

from core.db import GuardTable


class Migration(migrations.Migration):
    dependencies = [("agents", "0002_initial")]

    operations = [
        GuardTable("toolcall"),
        GuardTable("decisionlog"),
        GuardTable("planningcycle"),
        GuardTable("metric"),
    ]
