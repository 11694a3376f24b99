"""The audit tables' guards (core.db.GuardTable) against statements that empty a whole
table, and against a database role that does not own the tables."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Model

from agents.models import DecisionLog, Metric, PlanningCycle, Review, ReviewComment, ToolCall
from planning.models import DevPlan, DevPlanVersion, Project
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

only_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has no TRUNCATE and no roles: its TRUNCATE, a DELETE without WHERE, is "
    "test_deleting_every_row_of_an_append_only_table_is_rejected",
)


def make_version(project: Project) -> DevPlanVersion:
    plan = DevPlan.objects.create(project=project)
    return DevPlanVersion.objects.create(plan=plan, number=1, snapshot={"tasks": []})


# A row of each table whose rows the database keeps whatever SQL runs.
KEPT_ROWS: dict[type[Model], Callable[[Project], Model]] = {
    ToolCall: lambda project: ToolCall.objects.create(project=project, tool_name="shell"),
    DecisionLog: lambda project: DecisionLog.objects.create(project=project, decision="Split"),
    PlanningCycle: lambda project: PlanningCycle.objects.create(project=project, goals=["a"]),
    Metric: lambda project: Metric.objects.create(project=project, type="cost", value=0.25),
    DevPlanVersion: make_version,
}
# Rows that go with their task, one by one, but are never rewritten nor wiped at once.
IMMUTABLE = (Review, ReviewComment)


# PostgreSQL refuses to truncate a table with foreign-key checks still pending, as the
# test's own inserts leave them (deferred to COMMIT): run them first.
TRUNCATE_NOW = "SET CONSTRAINTS ALL IMMEDIATE"


def table_of(model: type[Model]) -> str:
    return model._meta.db_table


@pytest.mark.parametrize("model", KEPT_ROWS, ids=table_of)
def test_deleting_every_row_of_an_append_only_table_is_rejected(model: type[Model]) -> None:
    # SQLite's TRUNCATE: a DELETE without WHERE. It fires the DELETE guard of each row.
    project = ProjectFactory()
    row = KEPT_ROWS[model](project)

    with (
        pytest.raises(IntegrityError, match=f"{table_of(model)} is append-only: DELETE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table_of(model)}")

    assert model._default_manager.filter(pk=row.pk).exists()


@only_postgresql
@pytest.mark.parametrize("model", [*KEPT_ROWS, *IMMUTABLE], ids=table_of)
def test_truncate_of_a_guarded_table_is_rejected(model: type[Model]) -> None:
    project = ProjectFactory()
    row = KEPT_ROWS[model](project) if model in KEPT_ROWS else None
    kind = "immutable" if model in IMMUTABLE else "append-only"

    with (
        pytest.raises(IntegrityError, match=f"{table_of(model)} is {kind}: TRUNCATE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(TRUNCATE_NOW)
        cursor.execute(f"TRUNCATE {table_of(model)} CASCADE")

    if row is not None:
        assert model._default_manager.filter(pk=row.pk).exists()


@only_postgresql
def test_truncate_cascading_from_the_projects_reaches_the_guards() -> None:
    project = ProjectFactory()
    tool_call = ToolCall.objects.create(project=project, tool_name="shell")

    with (
        pytest.raises(IntegrityError, match="TRUNCATE is not allowed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(TRUNCATE_NOW)
        cursor.execute(f"TRUNCATE {table_of(Project)} CASCADE")

    assert ToolCall.objects.filter(pk=tool_call.pk).exists()


@only_postgresql
def test_session_replication_role_is_the_superuser_escape() -> None:
    # What the README documents, and the one way the suite's own flush empties the tables.
    ToolCall.objects.create(project=ProjectFactory(), tool_name="shell")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(TRUNCATE_NOW)
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"TRUNCATE {table_of(ToolCall)} CASCADE")
        assert not ToolCall.objects.exists()
        transaction.set_rollback(True)
    assert ToolCall.objects.exists()


@pytest.fixture
def app_role() -> Iterator[str]:
    """The role the README and docker-compose.yml run the app as: DML on every table,
    owner of none. Created in the test's transaction, so it goes with it (roles belong to
    the whole server: named after the test database, so parallel suites never meet)."""
    role = f"{connection.settings_dict['NAME']}_app"[:63]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" NOLOGIN')
        cursor.execute(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'
        )
        cursor.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    yield role


@contextmanager
def acting_as(role: str) -> Iterator[CursorWrapper]:
    """Statements as `role`, in a savepoint: a failure leaves the test's own transaction
    usable, and the test's role comes back either way."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{role}"')
        yield cursor
        # Released, a savepoint keeps its SET LOCAL; rolled back, it loses it.
        cursor.execute("RESET ROLE")


@only_postgresql
def test_a_role_that_does_not_own_the_tables_cannot_remove_or_bypass_the_guards(
    app_role: str,
) -> None:
    project = ProjectFactory()
    toolcalls = table_of(ToolCall)
    with acting_as(app_role):
        ToolCall.objects.create(project=project, tool_name="shell")  # it does write the log

    refused = {
        f"TRUNCATE {toolcalls} CASCADE": "permission denied for table",
        f"DROP TRIGGER {toolcalls}_reject_truncate ON {toolcalls}": "must be owner of",
        f"DROP TRIGGER {toolcalls}_reject_delete ON {toolcalls}": "must be owner of",
        f"ALTER TABLE {toolcalls} DISABLE TRIGGER ALL": "must be owner of",
        f"DROP TABLE {toolcalls}": "must be owner of",
        "SET session_replication_role = replica": "permission denied to set parameter",
        f"DELETE FROM {toolcalls}": "append-only: DELETE is not allowed",
    }
    with connection.cursor() as cursor:
        cursor.execute(TRUNCATE_NOW)
    for statement, error in refused.items():
        with pytest.raises(DatabaseError, match=error), acting_as(app_role) as cursor:
            cursor.execute(statement)

    # Even granted TRUNCATE on every table, the role meets the trigger.
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO "{app_role}"')
    with (
        pytest.raises(IntegrityError, match="append-only: TRUNCATE is not allowed"),
        acting_as(app_role) as cursor,
    ):
        cursor.execute(f"TRUNCATE {toolcalls} CASCADE")

    assert ToolCall.objects.filter(project=project).count() == 1
