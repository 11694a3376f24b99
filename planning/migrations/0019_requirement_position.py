from typing import Any

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# As planning.services.plan_edits.POSITION_GAP: room for moves between neighbours.
GAP = 1024


def number_in_current_order(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Give each project's requirements positions in the order they were listed in (code,
    then id), GAP apart, in one statement whatever their number."""
    requirement = apps.get_model("planning", "Requirement")
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    table = quote(requirement._meta.db_table)
    ranked = (
        f"SELECT {quote('id')}, ROW_NUMBER() OVER (PARTITION BY {quote('project_id')} "
        f"ORDER BY {quote('code')}, {quote('id')}) AS requirement_rank FROM {table}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {quote('position')} = ranked.requirement_rank * %s "
            f"FROM ({ranked}) AS ranked WHERE {table}.{quote('id')} = ranked.{quote('id')}",
            [GAP],
        )


def keep(*args: Any) -> None:
    """Going back drops the column: nothing to undo."""


class Migration(migrations.Migration):
    dependencies = [
        ("planning", "0018_devplanversion_source_identities_immutable"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="requirement",
            options={"ordering": ["position", "code", "id"]},
        ),
        migrations.AddField(
            model_name="requirement",
            name="position",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(number_in_current_order, keep),
        migrations.AddIndex(
            model_name="requirement",
            index=models.Index(
                fields=["project", "position", "code"], name="requirement_order_idx"
            ),
        ),
    ]
