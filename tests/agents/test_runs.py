"""A run's life, as its one owner (agents.services.runs) moves it: ending, retrying,
resuming, and the sweeps that recover runs whose worker died."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from agents import services
from agents.models import AgentRun, AgentStep
from agents.services import orchestrator, runs
from core.errors import ConflictError, DomainError
from planning.models import Task
from tests.factories import AgentFactory, FeatureFactory, SubFeatureFactory, TaskFactory
from tests.hang import HANG_S

pytestmark = pytest.mark.django_db


def test_stale_runs_are_redelivered(plan, django_capture_on_commit_callbacks, coders):

    coders(plan, 1)
    with django_capture_on_commit_callbacks():
        assert len(orchestrator.project_run_start(project=plan)) == 1
    assert runs.stale_runs_recover() == 0  # the lease is fresh
    with django_capture_on_commit_callbacks() as callbacks:
        assert runs.stale_runs_recover(now=timezone.now() + timedelta(hours=1)) == 1
    assert len(callbacks) == 1


def test_resuming_renews_the_lease_so_the_sweep_does_not_deliver_twice(
    plan, django_capture_on_commit_callbacks, coders
):

    coders(plan, 1)
    with django_capture_on_commit_callbacks():
        [run] = orchestrator.project_run_start(project=plan)
    AgentStep.objects.create(run=run, number=1, status="done")
    AgentRun.objects.filter(pk=run.pk).update(
        status="queued", lease_expires_at=timezone.now() - timedelta(hours=2)
    )
    plan.status = "paused"
    plan.save()
    with django_capture_on_commit_callbacks() as callbacks:
        orchestrator.project_run_start(project=plan)
    assert len(callbacks) == 1  # the paused run's next step
    with django_capture_on_commit_callbacks() as callbacks:
        assert runs.stale_runs_recover() == 0
    assert callbacks == []


def test_stale_planning_runs_get_generation_again_not_a_step_loop(
    project, django_capture_on_commit_callbacks
):

    from agents.services.planner import plan_generation_start
    from config.celery import app as celery_app

    with django_capture_on_commit_callbacks():
        run = plan_generation_start(project=project, requirements="- one")
    AgentRun.objects.filter(pk=run.pk).update(
        status="running", lease_expires_at=timezone.now() - timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert runs.stale_runs_recover() == 0  # no agent step was delivered
    assert len(callbacks) == 1
    # What a worker does with the delivery: the generation runs again, to its end.
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        callbacks[0]()
    finally:
        celery_app.conf.task_always_eager = eager
    run.refresh_from_db()
    assert run.status == "succeeded" and run.result["stage"] == "done"


def test_retry_refuses_a_busy_agent_and_a_used_up_turn_limit(
    plan, django_capture_on_commit_callbacks, coders
):
    [agent] = coders(plan, 1)
    with django_capture_on_commit_callbacks():
        [run] = orchestrator.project_run_start(project=plan)
    runs.run_finish(run=run, succeeded=False, summary="", error=runs.TURN_LIMIT)
    with pytest.raises(DomainError, match="used all its turns"):
        runs.run_retry(run=run)
    AgentRun.objects.filter(pk=run.pk).update(error="model down")
    agent.status = "busy"
    agent.save()
    with pytest.raises(ConflictError, match="busy"):
        runs.run_retry(run=AgentRun.objects.get(pk=run.pk))


@pytest.mark.parametrize("succeeded", [True, False])
def test_a_run_that_ends_leaves_alone_a_task_moved_on_meanwhile(
    plan, succeeded, django_capture_on_commit_callbacks, coders
):
    first, second = coders(plan, 2)
    plan.max_concurrent_runs = 1
    plan.save()
    with django_capture_on_commit_callbacks():
        [run] = orchestrator.project_run_start(project=plan)
    # A person gives the task to another agent while the run goes on.
    Task.objects.filter(pk=run.task_id).update(assigned_agent=second)
    runs.run_finish(run=run, succeeded=succeeded, summary="")
    task = Task.objects.get(pk=run.task_id)
    assert (task.status, task.assigned_agent) == ("in_progress", second)
    first.refresh_from_db()
    assert first.status == "idle"


@pytest.mark.parametrize("closed", ["done", "cancelled", "deferred"])
def test_a_failed_or_cancelled_run_keeps_a_closed_task_closed(
    plan, closed, django_capture_on_commit_callbacks, coders
):
    coders(plan, 2)
    with django_capture_on_commit_callbacks():
        failing, cancelled = orchestrator.project_run_start(project=plan)
    # The agent (or a person) closed its task before the run ended.
    Task.objects.filter(pk__in=[failing.task_id, cancelled.task_id]).update(status=closed)
    runs.run_finish(run=failing, succeeded=False, summary="", error="model down")
    runs.run_cancel(run=cancelled)
    for task in Task.objects.filter(pk__in=[failing.task_id, cancelled.task_id]):
        assert (task.status, task.assigned_agent) == (closed, None)


def test_retry_refuses_a_task_that_moved_on_since_the_run_failed(
    plan, django_capture_on_commit_callbacks, coders
):
    _, second = coders(plan, 2)
    plan.max_concurrent_runs = 1
    plan.save()
    with django_capture_on_commit_callbacks():
        [run] = orchestrator.project_run_start(project=plan)
    runs.run_finish(run=run, succeeded=False, summary="", error="model down")
    task = Task.objects.get(pk=run.task_id)
    assert task.status == "failed"
    for status, assigned, message in [
        ("pending", second, "another agent"),
        ("done", None, "is done now"),
        ("in_progress", None, "is in progress now"),
        ("review", None, "is review now"),
    ]:
        Task.objects.filter(pk=task.pk).update(status=status, assigned_agent=assigned)
        with pytest.raises(ConflictError, match=message):
            runs.run_retry(run=AgentRun.objects.get(pk=run.pk))
        assert AgentRun.objects.get(pk=run.pk).status == "failed"
    Task.objects.filter(pk=task.pk).update(status="pending", assigned_agent=None)
    with django_capture_on_commit_callbacks():
        retried = runs.run_retry(run=AgentRun.objects.get(pk=run.pk))
    assert retried.status == "running"
    task.refresh_from_db()
    assert (task.status, task.assigned_agent_id) == ("in_progress", run.agent_id)


def test_retry_waits_while_another_task_in_progress_names_one_of_its_files(
    plan, django_capture_on_commit_callbacks, coders
):
    _, holder = coders(plan, 2)
    plan.max_concurrent_runs = 1
    plan.save()
    with django_capture_on_commit_callbacks():
        [run] = orchestrator.project_run_start(project=plan)
    runs.run_finish(run=run, succeeded=False, summary="", error="model down")
    Task.objects.filter(pk=run.task_id).update(files=["src/calc.py"])
    other = TaskFactory(
        project=plan, key="HOLDS", files=["./src/calc.py"], status="in_progress",
        assigned_agent=holder,
    )  # fmt: skip

    with pytest.raises(ConflictError, match=r"names one of task .*'s files"):
        runs.run_retry(run=AgentRun.objects.get(pk=run.pk))
    assert AgentRun.objects.get(pk=run.pk).status == "failed"
    assert Task.objects.get(pk=run.task_id).status == "failed"

    Task.objects.filter(pk=other.pk).update(status="done")
    with django_capture_on_commit_callbacks():
        retried = runs.run_retry(run=AgentRun.objects.get(pk=run.pk))
    assert retried.status == "running"
    assert Task.objects.get(pk=run.task_id).status == "in_progress"


def test_retry_refuses_while_another_run_of_the_task_is_under_way_or_waiting(
    plan, django_capture_on_commit_callbacks, coders
):
    [agent] = coders(plan, 1)
    with django_capture_on_commit_callbacks():
        [run] = orchestrator.project_run_start(project=plan)
    runs.run_finish(run=run, succeeded=False, summary="", error="model down")
    # A later attempt by the same agent, queued (as a review's sent-back work waits).
    later = AgentRun.objects.create(
        project=plan, agent=agent, task=run.task, attempt=2, status="queued"
    )
    Task.objects.filter(pk=run.task_id).update(status="pending", assigned_agent=agent)

    with pytest.raises(ConflictError, match=f"another run under way \\(run {later.pk}\\)"):
        runs.run_retry(run=AgentRun.objects.get(pk=run.pk))
    assert AgentRun.objects.get(pk=run.pk).status == "failed"


def test_a_runs_start_and_end_roll_up_into_its_plan(
    project, django_capture_on_commit_callbacks, coders
):
    feature = FeatureFactory(project=project)
    sub = SubFeatureFactory(feature=feature)
    for key in ("A", "B"):
        TaskFactory(project=project, key=key, feature=feature, sub_feature=sub)
    coders(project, 1)
    with django_capture_on_commit_callbacks():
        [run] = orchestrator.project_run_start(project=project)
    sub.refresh_from_db()
    feature.refresh_from_db()
    assert (sub.status, feature.status) == ("in_progress", "in_progress")

    runs.run_finish(run=run, succeeded=True, summary="ok")

    assert Task.objects.get(pk=run.task_id).status == "review"
    sub.refresh_from_db()
    assert sub.status == "in_progress"
    project.refresh_from_db()
    assert project.status == "active"


def test_an_external_agents_finished_run_completes_its_plan_and_project(project):
    feature = FeatureFactory(project=project)
    sub = SubFeatureFactory(feature=feature)
    TaskFactory(project=project, key="A", feature=feature, sub_feature=sub, status="done")
    TaskFactory(project=project, key="B", feature=feature, sub_feature=sub)
    project.status = "active"
    project.save()
    agent = AgentFactory(project=project, type="external")

    run = services.task_claim(agent=agent)
    assert run is not None and run.task.key == "B"
    services.agent_run_complete(run=run, agent=agent, attempt=run.attempt)

    sub.refresh_from_db()
    feature.refresh_from_db()
    project.refresh_from_db()
    assert (sub.status, feature.status, project.status) == ("done", "done", "completed")
    assert project.completed_at is not None


def _run_status_writes(root: Path) -> list[str]:
    """Places in the project's code (not its tests) that set a run's status: an
    assignment of an `AgentRun.Status` member, or one passed to a query's update or
    create."""

    def is_run_status(node: ast.AST) -> bool:
        if isinstance(node, ast.IfExp):
            return is_run_status(node.body) or is_run_status(node.orelse)
        return (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "Status"
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "AgentRun"
        )

    found = []
    for app in ("agents", "planning", "memory", "core", "config"):
        for path in sorted((root / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                values = []
                if isinstance(node, ast.Assign):
                    values = [node.value]
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"update", "create", "update_or_create"}
                ):
                    values = [kw.value for kw in node.keywords if kw.arg == "status"]
                if any(is_run_status(value) for value in values):
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_only_the_runs_service_sets_a_runs_status():
    root = Path(__file__).resolve().parents[2]
    places = _run_status_writes(root)
    assert places, "the check finds the runs service's own writes"
    owners = {place.split(":")[0] for place in places}
    assert all(owner.startswith("agents/services/runs/") for owner in owners), places


def test_a_plan_generation_whose_message_was_lost_is_delivered_again_once_per_lease(
    project, django_capture_on_commit_callbacks, settings
):
    from agents.services.planner import plan_generation_start

    with django_capture_on_commit_callbacks():
        run = plan_generation_start(project=project, requirements="- one")
    with django_capture_on_commit_callbacks() as callbacks:
        runs.stale_runs_recover()
    assert callbacks == []  # just asked for: its message is on its way

    resend = timedelta(seconds=settings.QUEUED_RESEND_S)
    later = timezone.now() + resend + timedelta(seconds=1)
    with django_capture_on_commit_callbacks() as callbacks:
        runs.stale_runs_recover(now=later)
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        runs.stale_runs_recover(now=later + resend / 2)
    assert callbacks == []  # delivered already within this lease
    run.refresh_from_db()
    assert run.status == "queued"


def test_a_built_in_agent_terminated_mid_run_stays_terminated_when_the_run_ends(
    plan, coders, django_capture_on_commit_callbacks
):
    [agent] = coders(plan, 1)
    with django_capture_on_commit_callbacks():
        [run] = orchestrator.project_run_start(project=plan)
    services.agent_terminate(agent=agent, reason="retired")

    runs.run_finish(run=run, succeeded=False, summary="", error="model down")

    agent.refresh_from_db()
    assert (agent.status, agent.terminated_at is not None) == ("terminated", True)
    assert Task.objects.get(pk=run.task_id).status == "failed"


def test_cancelling_an_external_agents_run_puts_its_task_back_and_frees_it(project):
    agent = AgentFactory(project=project, type="external")
    task = TaskFactory(project=project, key="A")
    run = services.task_claim(agent=agent)
    assert run.task == task

    runs.run_cancel(run=run, reason="cancelled by alice")

    run.refresh_from_db()
    agent.refresh_from_db()
    task.refresh_from_db()
    assert (run.status, run.lease_expires_at) == ("cancelled", None)
    assert (agent.status, agent.current_task) == ("idle", None)
    assert (task.status, task.assigned_agent) == ("pending", None)


@pytest.mark.django_db(transaction=True)
def test_a_cancel_takes_the_agent_before_the_run_as_a_heartbeat_does(project):
    """A heartbeat (or complete, or claim) locks the agent, then the run. A cancel that
    locked the run first would deadlock with it; it waits for the agent instead, and
    leaves the run to whoever holds the agent."""
    import threading

    from django.db import DatabaseError, connection, connections, transaction

    from agents.models import Agent

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
    agent = AgentFactory(project=project, type="external")
    TaskFactory(project=project, key="A")
    run = services.task_claim(agent=agent)
    agent_locked, cancel_waiting, done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def heartbeat_like() -> None:
        try:
            with transaction.atomic():
                list(Agent.objects.select_for_update().filter(pk=agent.pk))
                agent_locked.set()
                cancel_waiting.wait(timeout=HANG_S)
                try:
                    list(AgentRun.objects.select_for_update(nowait=True).filter(pk=run.pk))
                    outcome["run lock"] = "taken"
                except DatabaseError:
                    outcome["run lock"] = "held by the cancel"
        finally:
            connections.close_all()

    def cancel() -> None:
        try:
            runs.run_cancel(run=run)
            outcome["cancel"] = "done"
        finally:
            connections.close_all()
            done.set()

    holder = threading.Thread(target=heartbeat_like)
    holder.start()
    assert agent_locked.wait(timeout=HANG_S)
    canceller = threading.Thread(target=cancel)
    canceller.start()
    # The cancel is waiting on a row lock (PostgreSQL says so), not on a timer.
    with connection.cursor() as cursor:
        for _ in range(3000):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                break
            done.wait(timeout=0.01)
    cancel_waiting.set()
    holder.join(timeout=HANG_S)
    canceller.join(timeout=HANG_S)
    assert outcome == {"run lock": "taken", "cancel": "done"}
    assert AgentRun.objects.get(pk=run.pk).status == "cancelled"
