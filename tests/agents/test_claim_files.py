"""Two tasks whose files overlap are never worked on at once, whoever starts them: an
external agent's claim passes by a task that names a file a task in progress names, and
two claims in flight at the same moment (PostgreSQL) never start two such tasks."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from agents.models import Agent
from agents.services import external, orchestrator
from tests.factories import AgentFactory, TaskFactory
from tests.hang import HANG_S


def external_agent(project, name: str) -> Agent:
    return AgentFactory(project=project, name=name, type=Agent.Type.EXTERNAL)


def claimed_key(agent: Agent) -> str | None:
    run = external.task_claim(agent=agent)
    return run.task.key if run is not None and run.task is not None else None


@pytest.mark.django_db
def test_a_claim_passes_by_a_task_whose_files_are_being_worked_on(project):
    TaskFactory(project=project, key="A", files=["calc/stats.py"], status="in_progress")
    # The same file, written differently; a task sharing nothing comes after it.
    TaskFactory(project=project, key="B", files=["./calc/stats.py/", "README.md"], priority="high")
    TaskFactory(project=project, key="C", files=["calc/other.py"], priority="low")

    assert claimed_key(external_agent(project, "one")) == "C"
    assert claimed_key(external_agent(project, "two")) is None


@pytest.mark.django_db
def test_a_task_without_files_is_claimed_whatever_is_in_progress(project):
    TaskFactory(project=project, key="A", files=["calc/stats.py"], status="in_progress")
    TaskFactory(project=project, key="B", files=[])

    assert claimed_key(external_agent(project, "one")) == "B"


@pytest.mark.django_db
def test_an_agents_own_task_waits_for_its_files_too(project):
    TaskFactory(project=project, key="A", files=["calc/stats.py"], status="in_progress")
    mine = external_agent(project, "one")
    TaskFactory(project=project, key="B", files=["calc/stats.py"], assigned_agent=mine)
    TaskFactory(project=project, key="C", files=["docs/index.md"])

    assert claimed_key(mine) == "C"


@pytest.mark.django_db
def test_files_free_again_once_the_task_holding_them_is_done(project):
    holder = TaskFactory(project=project, key="A", files=["calc/stats.py"], status="in_progress")
    TaskFactory(project=project, key="B", files=["calc/stats.py"])
    agent = external_agent(project, "one")
    assert claimed_key(agent) is None

    holder.status = "done"
    holder.save()

    assert claimed_key(agent) == "B"


@pytest.mark.django_db
def test_dispatch_leaves_a_task_whose_files_a_claim_took(project, settings):
    settings.LLM_PROVIDER = "openai"  # built-in coders may work
    TaskFactory(project=project, key="A", files=["calc/stats.py"])
    claimed = claimed_key(external_agent(project, "outside"))
    TaskFactory(project=project, key="B", files=["calc/stats.py"])
    AgentFactory(project=project, name="coder", type="coder")
    project.status = "active"
    project.save()

    started = orchestrator.dispatch(project=project)

    assert claimed == "A"
    assert started == []


def _advisory_lock_waiters() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return int(cursor.fetchone()[0])


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite runs one writer at a time: no race"
)
def test_two_claims_in_flight_never_start_tasks_sharing_a_file(append_only_rows_cleared, project):
    TaskFactory(project=project, key="A", files=["calc/stats.py"], priority="high")
    TaskFactory(project=project, key="B", files=["calc/stats.py", "calc/io.py"], priority="high")
    TaskFactory(project=project, key="C", files=["docs/index.md"], priority="low")
    first, second = external_agent(project, "first"), external_agent(project, "second")
    results: dict[str, object] = {}
    first_claimed, commit_first = threading.Event(), threading.Event()

    def claim_and_hold() -> None:
        try:
            with transaction.atomic():
                results["first"] = claimed_key(first)
                first_claimed.set()
                # Still uncommitted while the second claim runs.
                commit_first.wait(HANG_S)
        except BaseException as exc:
            results["first"] = exc
            first_claimed.set()
        finally:
            connections.close_all()

    def claim() -> None:
        try:
            results["second"] = claimed_key(second)
        except BaseException as exc:
            results["second"] = exc
        finally:
            connections.close_all()

    holder = threading.Thread(target=claim_and_hold)
    holder.start()
    assert first_claimed.wait(HANG_S)
    assert results["first"] == "A"
    racer = threading.Thread(target=claim)
    racer.start()
    # The second claim skips A (locked), takes B, and must wait for the first claim's
    # transaction before it may keep B. Without that wait it would be done with B here.
    deadline = time.monotonic() + HANG_S
    while racer.is_alive() and _advisory_lock_waiters() == 0:
        assert time.monotonic() < deadline, "the second claim neither waited nor finished"
        time.sleep(0.05)
    commit_first.set()
    holder.join(HANG_S)
    racer.join(HANG_S)

    assert results == {"first": "A", "second": "C"}
    in_progress = set(project.tasks.filter(status="in_progress").values_list("key", flat=True))
    assert in_progress == {"A", "C"}
