from django.db import migrations

from core.shapes import json_fields_repair
from memory import shapes

# Facts saved before the body's shape was checked.
REPAIRS = [("MemoryFact", "body", shapes.FACT_BODY, dict)]


class Migration(migrations.Migration):
    dependencies = [("memory", "0002_covered_indexes_dropped")]

    operations = [
        migrations.RunPython(
            json_fields_repair("memory", REPAIRS), migrations.RunPython.noop, elidable=True
        )
    ]
