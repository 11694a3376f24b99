"""Migrations, run both ways on the database the suite runs on."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# Back, one at a time, past each migration that rebuilds a guarded table (on SQLite)
# to alter it, after the one that installed the guard.
STEPS_BACK = [
    [("agents", "0005_agent_runtime")],
    [("planning", "0003_project_orchestration"), ("memory", "0001_initial")],
    [("agents", "0004_agentrun_payload_result")],
]
# Guards on tables that the steps back drop altogether, and guards that later
# migrations add to older tables.
NEWER_THAN_THE_STEPS = (
    "agents_review_",
    "agents_reviewcomment_",
    "planning_devplanversion_reject_delete",
)


def guard_triggers() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        return {name for (name,) in cursor.fetchall() if "_reject_" in name}


def migrate(targets: list[tuple[str, str]]) -> None:
    # A new executor each time: one reads the applied migrations when it is made.
    MigrationExecutor(connection).migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_reversing_migrations_that_rebuild_guarded_tables_keeps_the_guards():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    installed = guard_triggers()
    assert {
        "agents_toolcall_reject_update",
        "agents_toolcall_reject_delete",
        "agents_decisionlog_reject_update",
        "agents_planningcycle_reject_delete",
        "agents_metric_reject_update",
        "planning_devplanversion_reject_update",
        "planning_devplanversion_reject_delete",
    } <= installed
    if connection.vendor == "postgresql":
        assert {
            f"{table}_reject_truncate"
            for table in (
                "agents_toolcall",
                "agents_decisionlog",
                "agents_planningcycle",
                "agents_metric",
                "agents_review",
                "agents_reviewcomment",
                "planning_devplanversion",
            )
        } <= installed
    try:
        kept = {
            name
            for name in installed
            if not name.startswith(NEWER_THAN_THE_STEPS) and not name.endswith("_truncate")
        }
        for targets in STEPS_BACK:
            migrate(targets)
            assert guard_triggers() == kept, targets
    finally:
        migrate(latest)
    assert guard_triggers() == installed
