import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agents import services
from agents.models import AgentRun, AgentState, DecisionLog, PlanningCycle, ToolCall
from core.errors import ConflictError, DomainError
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    AgentStateFactory,
    ProjectFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


# Agents -------------------------------------------------------------------------------


def test_terminating_an_agent_stamps_terminated_at_and_reviving_clears_it(project) -> None:
    agent = services.agent_create(project=project, name="coder-1", type="coder")
    assert agent.terminated_at is None

    services.agent_terminate(agent=agent, reason="stuck in a loop")
    agent.refresh_from_db()
    assert agent.status == "terminated"
    assert agent.terminated_at is not None
    assert agent.termination_reason == "stuck in a loop"

    services.agent_update(agent=agent, data={"status": "idle"})
    agent.refresh_from_db()
    assert agent.status == "idle"
    assert agent.terminated_at is None


def test_an_agent_created_terminated_gets_terminated_at(project) -> None:
    agent = services.agent_create(project=project, name="old", type="coder", status="terminated")
    assert agent.terminated_at is not None


def test_an_agent_cannot_work_on_another_projects_task(project, other_project) -> None:
    foreign = TaskFactory(project=other_project)
    agent = AgentFactory(project=project)

    with pytest.raises(DomainError):
        services.agent_update(agent=agent, data={"current_task": foreign})
    with pytest.raises(DomainError):
        services.agent_create(project=project, name="x", type="coder", current_task=foreign)

    agent.refresh_from_db()
    assert agent.current_task is None


def test_agent_names_are_unique_per_project(project) -> None:
    AgentFactory(project=project, name="coder-1")
    with pytest.raises(ValidationError):
        services.agent_create(project=project, name="coder-1", type="coder")


def test_terminated_at_cannot_be_set_directly(project) -> None:
    agent = AgentFactory(project=project)
    with pytest.raises(DomainError):
        services.agent_update(agent=agent, data={"terminated_at": None})


# Runs ---------------------------------------------------------------------------------


def test_a_run_gets_a_generated_idempotency_key(project) -> None:
    agent = AgentFactory(project=project)
    first = services.agent_run_create(project=project, agent=agent)
    second = services.agent_run_create(project=project, agent=agent)
    assert first.idempotency_key
    assert first.idempotency_key != second.idempotency_key


def test_a_repeated_idempotency_key_is_a_conflict(project) -> None:
    agent = AgentFactory(project=project)
    services.agent_run_create(project=project, agent=agent, idempotency_key="T1:step-3")

    with pytest.raises(ConflictError):
        services.agent_run_create(project=project, agent=agent, idempotency_key="T1:step-3")

    # The failed insert did not break the surrounding transaction.
    assert AgentRun.objects.filter(idempotency_key="T1:step-3").count() == 1


def test_a_run_needs_a_live_agent_of_the_project(project, other_project) -> None:
    with pytest.raises(DomainError):
        services.agent_run_create(project=project, agent=AgentFactory(project=other_project))
    terminated = services.agent_create(
        project=project, name="gone", type="coder", status="terminated"
    )
    with pytest.raises(DomainError):
        services.agent_run_create(project=project, agent=terminated)
    assert not AgentRun.objects.exists()


# Tool calls ---------------------------------------------------------------------------


def test_a_tool_call_starts_and_completes_with_two_rows(project) -> None:
    run = AgentRunFactory(agent__project=project, task=TaskFactory(project=project))

    started = services.tool_call_start(
        project=project, run=run, tool_name="shell", input={"cmd": "pytest"}
    )
    completion = services.tool_call_complete(
        started=started, status="failed", output={"exit": 1}, error="2 failed", duration_ms=830
    )

    # Agent and task come from the run; the completion row inherits the started row's links.
    assert (started.agent, started.task) == (run.agent, run.task)
    assert completion.started == started
    assert (completion.project, completion.agent, completion.run, completion.task) == (
        project,
        run.agent,
        run,
        run.task,
    )
    started = ToolCall.objects.get(pk=started.pk)
    assert started.status == ""
    assert started.completion.status == "failed"
    assert started.completion.duration_ms == 830


def test_completing_a_tool_call_twice_is_a_conflict(project) -> None:
    started = services.tool_call_start(project=project, tool_name="shell")
    services.tool_call_complete(started=started, status="succeeded")

    # The caller's transaction is given up on a conflict; this one ends with the block.
    with pytest.raises(ConflictError), transaction.atomic():
        services.tool_call_complete(started=started, status="failed")

    assert ToolCall.objects.filter(started=started).get().status == "succeeded"


def test_a_call_id_logged_twice_in_a_step_is_a_conflict(project) -> None:
    run = AgentRunFactory(agent__project=project)
    services.tool_call_start(project=project, run=run, step=1, call_id="c1", tool_name="ls")

    with (
        pytest.raises(ConflictError, match="'c1' of step 1 is already logged"),
        transaction.atomic(),
    ):
        services.tool_call_start(project=project, run=run, step=1, call_id="c1", tool_name="ls")

    services.tool_call_start(project=project, run=run, step=2, call_id="c1", tool_name="ls")
    assert ToolCall.objects.filter(run=run).count() == 2


def test_a_tool_call_without_a_tool_name_is_refused(project) -> None:
    with pytest.raises(DomainError, match="names its tool"):
        services.tool_call_start(project=project, tool_name="")
    assert not ToolCall.objects.exists()


def test_logging_a_tool_call_checks_its_links_without_querying_them(
    project, django_assert_num_queries
) -> None:
    """The links are objects the caller has loaded; the row is one insert, with no
    savepoint around it."""
    run = AgentRunFactory(agent__project=project, task=TaskFactory(project=project))
    run = AgentRun.objects.select_related("agent", "task").get(pk=run.pk)
    with django_assert_num_queries(1):
        started = services.tool_call_start(project=project, run=run, tool_name="ls")
    with django_assert_num_queries(1):
        services.tool_call_complete(started=started, status="succeeded")


def test_a_racing_completion_is_a_conflict(project) -> None:
    # Both requests loaded the started row before either inserted its completion.
    started = services.tool_call_start(project=project, tool_name="shell")
    stale_copy = ToolCall.objects.get(pk=started.pk)
    services.tool_call_complete(started=started, status="succeeded")

    with pytest.raises(ConflictError):
        services.tool_call_complete(started=stale_copy, status="failed")


def test_an_integrity_failure_other_than_a_duplicate_is_not_a_conflict(project) -> None:
    started = services.tool_call_start(project=project, tool_name="shell")

    # The check constraint refuses a completion without an outcome; no duplicate exists.
    with pytest.raises(IntegrityError), transaction.atomic():  # not ConflictError
        services.tool_call_complete(started=started, status="")

    assert ToolCall.objects.count() == 1


def test_a_completion_row_cannot_be_completed(project) -> None:
    started = services.tool_call_start(project=project, tool_name="shell")
    completion = services.tool_call_complete(started=started, status="succeeded")

    with pytest.raises(DomainError) as excinfo:
        services.tool_call_complete(started=completion, status="succeeded")

    assert not isinstance(excinfo.value, ConflictError)
    assert ToolCall.objects.count() == 2


def test_tool_call_links_must_match(project, other_project) -> None:
    run = AgentRunFactory(agent__project=project)
    with pytest.raises(DomainError):
        services.tool_call_start(
            project=project, tool_name="shell", agent=AgentFactory(project=other_project)
        )
    with pytest.raises(DomainError):
        services.tool_call_start(
            project=project, tool_name="shell", task=TaskFactory(project=other_project)
        )
    with pytest.raises(DomainError):
        services.tool_call_start(
            project=project, tool_name="shell", run=run, agent=AgentFactory(project=project)
        )
    assert not ToolCall.objects.exists()


# Planning cycles, decisions, metrics -------------------------------------------------


def test_a_planning_cycle_opens_and_closes_once(project) -> None:
    cycle = services.planning_cycle_open(project=project, goals=["phase 1 plans"])
    closing = services.planning_cycle_close(
        cycle=cycle, status="completed", outcomes=["6 plans written"]
    )

    assert (cycle.status, closing.status, closing.opened) == ("active", "completed", cycle)
    assert PlanningCycle.objects.get(pk=cycle.pk).closing.outcomes == ["6 plans written"]
    with pytest.raises(ConflictError):
        services.planning_cycle_close(cycle=cycle, status="abandoned")
    with pytest.raises(DomainError):
        services.planning_cycle_close(cycle=closing, status="completed")


def test_a_planning_cycle_cannot_close_as_active(project) -> None:
    cycle = services.planning_cycle_open(project=project)
    with pytest.raises(DomainError):
        services.planning_cycle_close(cycle=cycle, status="active")
    assert not PlanningCycle.objects.filter(opened=cycle).exists()


def test_a_decision_links_to_the_project_only(project, other_project) -> None:
    cycle = services.planning_cycle_open(project=project)
    task = TaskFactory(project=project)
    entry = services.decision_record(
        project=project,
        decision="Split 01-08 into two plans",
        reasoning={"why": "too many files"},
        task=task,
        planning_cycle=cycle,
    )
    assert (entry.task, entry.planning_cycle) == (task, cycle)

    foreign_cycle = services.planning_cycle_open(project=other_project)
    with pytest.raises(DomainError):
        services.decision_record(project=project, decision="x", planning_cycle=foreign_cycle)
    closing = services.planning_cycle_close(cycle=cycle, status="completed")
    with pytest.raises(DomainError):
        services.decision_record(project=project, decision="x", planning_cycle=closing)
    assert DecisionLog.objects.count() == 1


def test_a_metric_takes_agent_and_task_from_its_run(project) -> None:
    run = AgentRunFactory(agent__project=project, task=TaskFactory(project=project))
    metric = services.metric_record(project=project, type="token_usage", value=1200, run=run)
    assert (metric.agent, metric.task, metric.value) == (run.agent, run.task, 1200)


def test_a_metric_rejects_an_unknown_type(project) -> None:
    with pytest.raises(ValidationError):
        services.metric_record(project=project, type="vibes", value=1)


# Checkpoints and agent state ---------------------------------------------------------


def test_a_checkpoint_keeps_its_state(project) -> None:
    checkpoint = services.checkpoint_create(
        project=project, name="before merge", state={"tasks": 3}, git_commit="abc123"
    )
    services.checkpoint_update(checkpoint=checkpoint, data={"name": "pre-merge"})
    with pytest.raises(DomainError):
        services.checkpoint_update(checkpoint=checkpoint, data={"state": {}})

    checkpoint.refresh_from_db()
    assert (checkpoint.name, checkpoint.state) == ("pre-merge", {"tasks": 3})


def test_agent_state_set_creates_then_overwrites(project) -> None:
    created = services.agent_state_set(project=project, namespace="ns", key="k", value=1)
    updated = services.agent_state_set(project=project, namespace="ns", key="k", value={"n": 2})

    assert created.pk == updated.pk
    assert AgentState.objects.get(pk=created.pk).value == {"n": 2}


def test_agent_state_keys_are_per_project(project) -> None:
    other = ProjectFactory()
    services.agent_state_set(project=project, namespace="ns", key="k", value=1)
    services.agent_state_set(project=other, namespace="ns", key="k", value=2)

    assert AgentState.objects.get(project=project).value == 1
    assert AgentState.objects.get(project=other).value == 2


def test_agent_state_set_overwrites_a_row_created_concurrently(project, monkeypatch) -> None:
    # Another writer inserts the key between our look-up and our insert.
    AgentStateFactory(project=project, namespace="ns", key="k", value="theirs")
    monkeypatch.setattr("agents.services.state.selectors.agent_state_get", lambda **kwargs: None)

    entry = services.agent_state_set(project=project, namespace="ns", key="k", value="mine")

    assert AgentState.objects.get(pk=entry.pk).value == "mine"
    assert AgentState.objects.filter(project=project).count() == 1


def test_agent_state_create_rejects_a_taken_key(project) -> None:
    services.agent_state_create(project=project, namespace="ns", key="k", value=1)
    with pytest.raises(ValidationError):
        services.agent_state_create(project=project, namespace="ns", key="k", value=2)


def test_agent_state_update_can_change_1_to_true(project) -> None:
    entry = services.agent_state_create(project=project, namespace="ns", key="flag", value=1)
    services.agent_state_update(entry=entry, data={"value": True})
    entry.refresh_from_db()
    assert entry.value is True
