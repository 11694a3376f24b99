from typing import Any

from django.db import migrations

import core.fields
from core.db import GuardTable

# The version table's UPDATE guard (0018) names the snapshot column, and PostgreSQL does
# not change the type of a column that a trigger names: the guard is dropped and put
# back around the change, in one transaction.
UPDATE_GUARD = GuardTable(
    "devplanversion",
    reject_delete=False,
    columns=(
        "plan_id",
        "number",
        "snapshot",
        "markdown",
        "change_summary",
        "created_at",
        "source_identities",
    ),
)


def snapshot_stored_as(column_type: str) -> Any:
    """Store the snapshot as `column_type` on PostgreSQL. On SQLite JSON is text either
    way, and altering the column would rebuild the table and drop its guards."""

    def alter(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = apps.get_model("planning", "DevPlanVersion")._meta.db_table
        for statement in UPDATE_GUARD.drop_sql(table, "postgresql"):
            schema_editor.execute(statement, params=None)
        schema_editor.execute(
            f"ALTER TABLE {table} ALTER COLUMN snapshot TYPE {column_type} "
            f"USING snapshot::{column_type}",
            params=None,
        )
        for statement in UPDATE_GUARD.create_sql(table, "postgresql"):
            schema_editor.execute(statement, params=None)

    return alter


class Migration(migrations.Migration):
    dependencies = [("planning", "0021_task_claim_partial_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="devplanversion",
                    name="snapshot",
                    field=core.fields.DocumentJSONField(),
                ),
            ],
            database_operations=[
                migrations.RunPython(snapshot_stored_as("json"), snapshot_stored_as("jsonb")),
            ],
        ),
    ]
