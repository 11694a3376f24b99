"""A built-in run's start (runs.run_start): what it records, what it refuses, what it
costs in statements, and the order it takes its locks in."""

import threading

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from agents.models import Agent, AgentRun, AgentStep
from agents.services import runs
from core.errors import ConflictError
from tests.factories import AgentFactory, AgentRunFactory, ProjectFactory, TaskFactory
from tests.hang import HANG_S


@pytest.mark.django_db
def test_a_start_records_the_run_at_work_and_its_agent_busy(
    project, django_capture_on_commit_callbacks
):
    task = TaskFactory(project=project, key="T1", name="Write the parser")
    agent = AgentFactory(project=project, name="coder-1")
    queued = AgentRunFactory(project=project, agent=agent, task=task)
    with (
        django_capture_on_commit_callbacks() as callbacks,
        CaptureQueriesContext(connection) as queries,
    ):
        started = runs.run_start(run=queued, max_turns=7)
    assert len(callbacks) == 1  # step 1, once the start commits
    # One statement loads and locks, one records the start and the agent's (two on SQLite);
    # the savepoints are the test's transaction around the start's.
    ran = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(ran) == (2 if connection.vendor == "postgresql" else 3), ran
    # The run comes back with its links loaded, as they are stored.
    assert (started.project, started.agent, started.task) == (project, agent, task)
    assert started.task.name == "Write the parser" and started.agent.name == "coder-1"
    stored = AgentRun.objects.get(pk=queued.pk)
    assert (stored.status, stored.stage, stored.executor) == ("running", "", "builtin")
    assert stored.started_at == stored.heartbeat_at == started.started_at
    assert stored.lease_expires_at == started.lease_expires_at > stored.started_at
    assert stored.updated_at == started.started_at
    assert stored.payload["max_turns"] == 7
    assert [m["role"] for m in stored.payload["messages"]] == ["system", "user"]
    assert "Write the parser" in stored.payload["messages"][1]["content"]
    agent.refresh_from_db()
    assert (agent.status, agent.current_task_id) == ("busy", task.pk)
    assert agent.last_activity_at == started.started_at


@pytest.mark.django_db
def test_a_run_without_a_task_starts_at_its_goal(project, django_capture_on_commit_callbacks):
    agent = AgentFactory(project=project, name="planner-1")
    queued = AgentRunFactory(project=project, agent=agent, task=None, payload={"goal": "Plan it"})
    with django_capture_on_commit_callbacks():
        started = runs.run_start(run=queued)
    assert started.task is None
    stored = AgentRun.objects.get(pk=queued.pk)
    assert stored.payload["goal"] == "Plan it"
    assert stored.payload["messages"][1]["content"] == "Plan it"
    agent.refresh_from_db()
    assert (agent.status, agent.current_task_id) == ("busy", None)


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["running", "has a step"])
def test_a_run_that_started_already_is_not_started_again(
    project, how, django_capture_on_commit_callbacks
):
    agent = AgentFactory(project=project, name="coder-1")
    queued = AgentRunFactory(project=project, agent=agent, task=None, payload={"goal": "Go"})
    if how == "running":
        AgentRun.objects.filter(pk=queued.pk).update(status="running")
    else:
        AgentStep.objects.create(run=queued, number=1, status="done")
    before = AgentRun.objects.values().get(pk=queued.pk)
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(ConflictError, match="already started"),
    ):
        runs.run_start(run=queued)
    assert callbacks == []
    assert AgentRun.objects.values().get(pk=queued.pk) == before
    agent.refresh_from_db()
    assert agent.status == "idle"


def _waits_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.django_db(transaction=True)
def test_a_start_locks_the_agent_before_the_run(append_only_rows_cleared):
    """Every path takes the agent, then the run: a start that waits for its agent holds
    no lock on the run meanwhile."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
    project = ProjectFactory()
    agent = AgentFactory(project=project, name="coder-1")
    queued = AgentRunFactory(project=project, agent=agent, task=None, payload={"goal": "Go"})
    errors: list[BaseException] = []
    starter_pid: list[int] = []

    def start() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                starter_pid.append(int(cursor.fetchone()[0]))
            runs.run_start(run=queued)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    with transaction.atomic():
        list(Agent.objects.select_for_update(no_key=True).filter(pk=agent.pk))
        starter = threading.Thread(target=start, daemon=True)
        starter.start()
        for _ in range(int(HANG_S * 20)):
            if (starter_pid and _waits_for_a_lock(starter_pid[0])) or not starter.is_alive():
                break
            threading.Event().wait(0.05)
        assert starter_pid and _waits_for_a_lock(starter_pid[0]), errors
        # The run is free while the start waits for its agent.
        locked = AgentRun.objects.select_for_update(nowait=True).filter(pk=queued.pk)
        assert [run.status for run in locked] == ["queued"]
    starter.join(timeout=HANG_S)
    assert not starter.is_alive() and not errors, errors
    assert AgentRun.objects.get(pk=queued.pk).status == "running"
