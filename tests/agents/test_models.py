"""Invariants the database enforces for agents, whatever code writes the rows."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from agents.models import Agent, AgentRun, AgentState, DecisionLog, Metric, PlanningCycle, ToolCall
from tests.factories import AgentFactory, AgentRunFactory, AgentStateFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def make_tool_call() -> ToolCall:
    return ToolCall.objects.create(project=ProjectFactory(), tool_name="shell", input={"cmd": "ls"})


def make_decision() -> DecisionLog:
    return DecisionLog.objects.create(project=ProjectFactory(), decision="Split the task")


def make_planning_cycle() -> PlanningCycle:
    return PlanningCycle.objects.create(project=ProjectFactory(), goals=["plan phase 1"])


def make_metric() -> Metric:
    return Metric.objects.create(project=ProjectFactory(), type=Metric.Type.COST, value=0.25)


# (maker, a raw SQL assignment, the column it changes, a new value for that column via the ORM)
APPEND_ONLY = {
    "toolcall": (make_tool_call, "tool_name = 'rm'", "tool_name", "rm"),
    "decisionlog": (make_decision, "decision = 'Rewrite history'", "decision", "Rewrite"),
    "planningcycle": (make_planning_cycle, "goals = '[]'", "goals", []),
    "metric": (make_metric, "value = 99", "value", 99.0),
}
TABLES = list(APPEND_ONLY)


def _snapshot(row: Model, column: str) -> object:
    row.refresh_from_db()
    return getattr(row, column)


@pytest.mark.parametrize("table", TABLES)
def test_raw_update_on_append_only_table_is_rejected(table: str) -> None:
    make, assignment, column, _ = APPEND_ONLY[table]
    row = make()
    before = _snapshot(row, column)

    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f"UPDATE {row._meta.db_table} SET {assignment} WHERE id = %s",
            [row.pk],
        )

    assert _snapshot(row, column) == before


@pytest.mark.parametrize("table", TABLES)
def test_raw_delete_on_append_only_table_is_rejected(table: str) -> None:
    make, *_ = APPEND_ONLY[table]
    row = make()

    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {row._meta.db_table} WHERE id = %s", [row.pk])

    assert type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("table", TABLES)
def test_orm_update_and_delete_on_append_only_table_are_rejected(table: str) -> None:
    make, _, column, new_value = APPEND_ONLY[table]
    row = make()
    before = _snapshot(row, column)
    model = type(row)

    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        model.objects.filter(pk=row.pk).update(**{column: new_value})
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        model.objects.filter(pk=row.pk).delete()

    assert _snapshot(row, column) == before


def test_other_tables_stay_writable() -> None:
    # The guard is per table: ordinary tables must not have picked it up.
    agent = AgentFactory()
    Agent.objects.filter(pk=agent.pk).update(model="gpt-x")
    agent.refresh_from_db()
    assert agent.model == "gpt-x"


def _complete(started: ToolCall, **fields: object) -> ToolCall:
    values = {"project": started.project, "started": started, "status": "succeeded"}
    return ToolCall.objects.create(**{**values, **fields})


def test_a_tool_call_has_at_most_one_completion_row() -> None:
    started = make_tool_call()
    _complete(started)

    with pytest.raises(IntegrityError), transaction.atomic():
        _complete(started, status="failed")

    assert ToolCall.objects.filter(started=started).count() == 1


def test_a_planning_cycle_has_at_most_one_closing_row() -> None:
    cycle = make_planning_cycle()
    PlanningCycle.objects.create(project=cycle.project, opened=cycle, status="completed")

    with pytest.raises(IntegrityError), transaction.atomic():
        PlanningCycle.objects.create(project=cycle.project, opened=cycle, status="abandoned")


CONSTRAINT_VIOLATIONS: dict[str, Callable[[], object]] = {
    "terminated agent without terminated_at": lambda: AgentFactory(status="terminated"),
    "live agent with terminated_at": lambda: AgentFactory(
        status="idle", terminated_at=timezone.now()
    ),
    "unknown agent type": lambda: AgentFactory(type="wizard"),
    "unknown agent status": lambda: AgentFactory(status="asleep"),
    "run attempt 0": lambda: AgentRunFactory(attempt=0),
    "run finished before it started": lambda: AgentRunFactory(
        started_at=timezone.now(), finished_at=timezone.now() - timedelta(minutes=1)
    ),
    "tool call completion without status": lambda: _complete(make_tool_call(), status=""),
    "tool call completion with unknown status": lambda: _complete(make_tool_call(), status="ok"),
    "started tool call with a status": lambda: ToolCall.objects.create(
        project=ProjectFactory(), tool_name="shell", status="succeeded"
    ),
    "started tool call without a tool name": lambda: ToolCall.objects.create(
        project=ProjectFactory(), tool_name=""
    ),
    "closing cycle row still active": lambda: PlanningCycle.objects.create(
        project=ProjectFactory(), opened=make_planning_cycle(), status="active"
    ),
    "opening cycle row already completed": lambda: PlanningCycle.objects.create(
        project=ProjectFactory(), status="completed"
    ),
    "decision without text": lambda: DecisionLog.objects.create(
        project=ProjectFactory(), decision=""
    ),
    "unknown metric type": lambda: Metric.objects.create(
        project=ProjectFactory(), type="vibes", value=1
    ),
}


@pytest.mark.parametrize("violation", list(CONSTRAINT_VIOLATIONS))
def test_constraint_violations_are_rejected_by_the_database(violation: str) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        CONSTRAINT_VIOLATIONS[violation]()


def test_terminated_agent_with_terminated_at_is_accepted() -> None:
    agent = AgentFactory(status="terminated", terminated_at=timezone.now())
    assert Agent.objects.get(pk=agent.pk).status == "terminated"


def test_run_idempotency_key_is_unique_within_a_project() -> None:
    first = AgentRunFactory(idempotency_key="run-1")
    AgentRunFactory(idempotency_key="run-1")  # another project: its own keys

    with pytest.raises(IntegrityError), transaction.atomic():
        AgentRunFactory(agent=first.agent, project=first.project, idempotency_key="run-1")

    assert AgentRun.objects.filter(idempotency_key="run-1").count() == 2


def test_agent_state_key_is_unique_per_project_namespace() -> None:
    entry = AgentStateFactory(namespace="scratch", key="plan")
    AgentStateFactory(namespace="scratch", key="plan")  # another project: fine
    AgentStateFactory(project=entry.project, namespace="other", key="plan")

    with pytest.raises(IntegrityError), transaction.atomic():
        AgentStateFactory(project=entry.project, namespace="scratch", key="plan")


def test_global_agent_state_key_is_unique() -> None:
    AgentState.objects.create(project=None, namespace="scratch", key="plan")

    with pytest.raises(IntegrityError), transaction.atomic():
        AgentState.objects.create(project=None, namespace="scratch", key="plan")
