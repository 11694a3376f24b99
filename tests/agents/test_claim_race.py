"""Separate processes race to claim tasks over the API: each task is claimed exactly once.

Each claimer is a fresh process (the 'spawn' start method) that sets Django up against
the test database and claims with one agent key after another, each agent keeping the
run it got, until the claim answers 204. At the end every task is held by one running
run at once, so a task claimed twice would show as two runs. Django is imported inside
functions only: a spawned process imports this module before it has set Django up.
"""

import multiprocessing
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.hang import HANG_S


def _claim_until_none(
    database_url: str, slug: str, keys: list[str], start: Any, results: Any
) -> None:
    """In a child process: claim with each key in turn until no task is left (204)."""
    try:
        os.environ.update(
            DATABASE_URL=database_url,
            DJANGO_SETTINGS_MODULE="config.settings",
            ALLOWED_HOSTS="testserver",
        )
        import django

        django.setup()
        from django.db import connections

        connections.close_all()
        from rest_framework.test import APIClient

        client = APIClient()
        claimed, saw_204 = [], False
        start.wait(timeout=HANG_S)
        for key in keys:
            client.credentials(HTTP_AUTHORIZATION=f"Agent {key}")
            response = client.post(f"/api/v1/projects/{slug}/tasks/claim/", format="json")
            if response.status_code == 204:
                saw_204 = True
                break
            assert response.status_code == 201, (response.status_code, response.content)
            claimed.append(response.json()["task"]["key"])
        connections.close_all()
        results.put((claimed, saw_204, None))
    except BaseException:
        results.put(([], False, traceback.format_exc()))


def race(*, tasks: int, claimers: int) -> list[tuple[list[str], bool]]:
    """Seed `tasks` ready tasks; let `claimers` processes claim them all. Returns, per
    process, the task keys it claimed and whether it saw the 204."""
    from agents.keys import KEY_PREFIX, agent_key_hash
    from agents.models import Agent
    from planning.models import Task
    from tests.celery_worker import _test_database_url
    from tests.factories import ProjectFactory

    project = ProjectFactory(slug="race")
    Task.objects.bulk_create(
        Task(project=project, key=f"T{i:04d}", name=f"task {i}") for i in range(tasks)
    )
    # Twice the keys a fair share needs, so a fast process does not run out early.
    per_process = 2 * tasks // claimers + 1
    keys = [[f"{KEY_PREFIX}race-{p}-{n}" for n in range(per_process)] for p in range(claimers)]
    Agent.objects.bulk_create(
        Agent(project=project, name=key, type=Agent.Type.EXTERNAL, api_key_hash=agent_key_hash(key))
        for share in keys
        for key in share
    )

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(claimers)
    results = context.Queue()
    processes = [
        context.Process(
            target=_claim_until_none,
            args=(_test_database_url(), project.slug, share, start, results),
        )
        for share in keys
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=HANG_S) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    errors = [error for _, _, error in outcomes if error]
    assert not errors, "\n".join(errors)
    return [(claimed, saw_204) for claimed, saw_204, _ in outcomes]


def assert_each_task_claimed_once(outcomes: list[tuple[list[str], bool]], *, tasks: int) -> None:
    from django.db.models import Count

    from agents.models import AgentRun
    from planning.models import Task

    claimed = [key for keys, _ in outcomes for key in keys]
    assert len(claimed) == tasks
    assert set(claimed) == set(Task.objects.values_list("key", flat=True))
    # How the tasks were shared out between the processes depends on the scheduler, so
    # only what holds for any sharing is asserted: the queue ran dry.
    assert any(saw_204 for _, saw_204 in outcomes)
    runs = AgentRun.objects.filter(status="running")
    assert runs.count() == tasks
    assert not runs.values("task").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert not runs.values("agent").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert set(runs.values_list("attempt", flat=True)) == {1}
    in_progress = Task.objects.filter(status="in_progress").values_list("pk", "assigned_agent")
    assert set(in_progress) == set(runs.values_list("task", "agent"))


@pytest.mark.django_db(transaction=True)
def test_eight_processes_claim_each_of_1000_tasks_exactly_once(append_only_rows_cleared):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the SKIP LOCKED race runs on PostgreSQL; SQLite has its own test below")

    outcomes = race(tasks=1000, claimers=8)

    assert_each_task_claimed_once(outcomes, tasks=1000)


@pytest.mark.django_db(transaction=True)
def test_two_processes_on_sqlite_claim_each_task_exactly_once(append_only_rows_cleared):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the serialised-claims race is the SQLite one; PostgreSQL has its own")

    outcomes = race(tasks=50, claimers=2)

    assert_each_task_claimed_once(outcomes, tasks=50)


@contextmanager
def locked_elsewhere(*tasks: Any) -> Iterator[None]:
    """Hold row locks on `tasks` from another connection, as a claim in progress does."""
    import threading

    from django.db import connections, transaction

    from planning.models import Task

    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(Task.objects.select_for_update().filter(pk__in=[t.pk for t in tasks]))
                locked.set()
                release.wait(timeout=HANG_S)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=HANG_S)
        yield
    finally:
        release.set()
        holder.join(timeout=HANG_S)


@pytest.mark.django_db(transaction=True)
def test_a_claim_passes_over_locked_tasks_to_the_next_best(append_only_rows_cleared):
    from django.db import connection

    from agents.services import task_claim
    from tests.factories import AgentFactory, ProjectFactory, TaskDependencyFactory, TaskFactory

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises claims")
    project = ProjectFactory()
    done = TaskFactory(project=project, key="D", status="done")
    first = TaskFactory(project=project, key="A", priority="high")
    TaskFactory(project=project, key="B", priority="high")
    TaskDependencyFactory(
        task=TaskFactory(project=project, key="C", priority="high"), depends_on=done
    )
    TaskFactory(project=project, key="M", priority="medium")

    def claim() -> str | None:
        run = task_claim(agent=AgentFactory(project=project, type="external"))
        return None if run is None else run.task.key

    with locked_elsewhere(first):
        # The first of the best group without dependencies; then the rest of that group;
        # then, the group all locked, the next group; then, everything locked, nothing.
        assert [claim() for _ in range(4)] == ["B", "C", "M", None]
    assert claim() == "A"


@pytest.mark.django_db(transaction=True)
def test_two_claims_at_once_with_one_agent_key_hold_one_run(append_only_rows_cleared):
    """The second claim waits for the agent's lock, then sees the run the first one
    committed meanwhile: a conflict, not a second task."""
    import threading
    import time

    from django.db import connection, connections, transaction

    from agents.models import AgentRun
    from agents.services import task_claim
    from core.errors import ConflictError
    from tests.factories import AgentFactory, ProjectFactory, TaskFactory

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises claims")
    project = ProjectFactory()
    TaskFactory(project=project, key="A")
    TaskFactory(project=project, key="B")
    agent = AgentFactory(project=project, type="external")
    claimed, release = threading.Event(), threading.Event()
    outcome: dict[str, str] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                task_claim(agent=agent)
                claimed.set()
                release.wait(timeout=HANG_S)
        finally:
            connections.close_all()

    second_pid: list[int] = []

    def second() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                second_pid.append(cursor.fetchone()[0])
            task_claim(agent=agent)
            outcome["second"] = "claimed"
        except ConflictError:
            outcome["second"] = "conflict"
        finally:
            connections.close_all()

    holder = threading.Thread(target=first)
    holder.start()
    assert claimed.wait(timeout=HANG_S)
    waiter = threading.Thread(target=second)
    waiter.start()
    # Until the second claim waits for the agent's lock (seen, not guessed with a sleep).
    for _ in range(int(HANG_S * 20)):
        if second_pid:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", second_pid
                )
                if cursor.fetchone() == ("Lock",):
                    break
        time.sleep(0.05)
    release.set()
    holder.join(timeout=HANG_S)
    waiter.join(timeout=HANG_S)
    assert outcome == {"second": "conflict"}
    assert AgentRun.objects.filter(agent=agent, status="running").count() == 1
