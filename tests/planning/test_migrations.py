"""Planning's migrations that change stored data, run both ways."""

import json
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from planning.models import DevPlan, DevPlanVersion

BEFORE_SNAPSHOT_AS_TEXT = ("planning", "0021_task_claim_partial_indexes")


def migrate(target: list[tuple[str, str]]) -> None:
    # A new executor each time: one reads the applied migrations when it is made.
    MigrationExecutor(connection).migrate(target)


def version_guards() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [DevPlanVersion._meta.db_table],
            )
        else:
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = %s::regclass",
                [DevPlanVersion._meta.db_table],
            )
        return {name for (name,) in cursor.fetchall()}


def stored_snapshot(pk: int) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT snapshot FROM {DevPlanVersion._meta.db_table} WHERE id = %s", [pk])
        (value,) = cursor.fetchone()
    return value


@pytest.mark.django_db(transaction=True)
def test_storing_snapshots_as_text_keeps_the_version_guards_both_ways():
    # On SQLite, altering the column would rebuild the table and drop its triggers.
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    guards = version_guards()
    assert f"{DevPlanVersion._meta.db_table}_reject_update" in guards
    try:
        migrate([BEFORE_SNAPSHOT_AS_TEXT])
        assert version_guards() == guards
    finally:
        migrate(latest)
    assert version_guards() == guards


# SQLite's flush deletes row by row, which a saved version refuses; there the migration
# changes nothing stored anyway.
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite keeps JSON as text")
@pytest.mark.django_db(transaction=True)
def test_snapshots_keep_their_content_both_ways(project):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    snapshot = {"tasks": [{"key": "T1", "name": "Ship"}], "features": []}
    version = DevPlanVersion.objects.create(
        plan=DevPlan.objects.create(project=project), number=1, snapshot=snapshot
    )
    try:
        migrate([BEFORE_SNAPSHOT_AS_TEXT])
        # Back in jsonb, which Django's loader gives as text to decode.
        assert json.loads(stored_snapshot(version.pk)) == snapshot
    finally:
        migrate(latest)
    # In json, which psycopg decodes.
    assert stored_snapshot(version.pk) == snapshot
    assert DevPlanVersion.objects.get(pk=version.pk).snapshot == snapshot
