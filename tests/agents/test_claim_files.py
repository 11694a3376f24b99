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


# A dispatch (built-in and CLI agents) racing an external agent's claim, on two real
# connections: one side is held open with its task started and its files locked, the
# other is let go only once PostgreSQL shows it waiting for a lock (or it has finished),
# and then the first commits. Whatever the interleaving, exactly one side gets work.


def _backend_waits(pid: int) -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


class Side(threading.Thread):
    """One side of a race, on a database connection of its own: `work` runs in a
    transaction, which stays open after `work` until `commit` is set when `hold` is."""

    def __init__(self, work, *, hold: bool) -> None:
        super().__init__()
        self.work, self.hold = work, hold
        self.pid: int | None = None
        self.started_work, self.done, self.commit = (
            threading.Event(),
            threading.Event(),
            threading.Event(),
        )
        self.result: object = None

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.started_work.set()
            with transaction.atomic():
                self.result = self.work()
                self.done.set()
                if self.hold:
                    self.commit.wait(HANG_S)
        except BaseException as exc:
            self.result = exc
        finally:
            self.started_work.set()
            self.done.set()
            connections.close_all()

    def wait_until_blocked_or_finished(self) -> None:
        """Returns once this side waits for a lock (seen in pg_stat_activity, not guessed
        from time) or has finished; fails after HANG_S, a hang guard only."""
        assert self.started_work.wait(HANG_S)
        deadline = time.monotonic() + HANG_S
        while not self.done.is_set() and not (self.pid and _backend_waits(self.pid)):
            assert time.monotonic() < deadline, "the racer neither waited nor finished"
            self.done.wait(0.02)


def _race(first: Side, second: Side) -> None:
    first.start()
    try:
        assert first.done.wait(HANG_S)
        second.start()
        second.wait_until_blocked_or_finished()
    finally:
        first.commit.set()
        first.join(HANG_S)
        second.join(HANG_S)
    assert not first.is_alive() and not second.is_alive()


@pytest.fixture
def overlapping(project, coding_model):
    """A, ready for dispatch, and B, the external agent's own task, sharing a file."""
    outside = external_agent(project, "outside")
    TaskFactory(project=project, key="A", files=["calc/stats.py"], priority="high")
    TaskFactory(
        project=project, key="B", files=["calc/io.py", "./calc/stats.py"], assigned_agent=outside
    )
    AgentFactory(project=project, name="coder", type="coder")
    project.status = "active"
    project.max_concurrent_runs = 3
    project.save()
    return outside


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite runs one writer at a time: no race"
)
@pytest.mark.parametrize("first", ["dispatch", "claim"])
def test_a_dispatch_and_a_claim_in_flight_never_start_tasks_sharing_a_file(
    append_only_rows_cleared, project, overlapping, first
):
    def dispatch() -> list[str]:
        return [run.task.key for run in orchestrator.dispatch(project=project)]

    def claim() -> str | None:
        return claimed_key(overlapping)

    sides = {
        "dispatch": Side(dispatch, hold=first == "dispatch"),
        "claim": Side(claim, hold=first == "claim"),
    }
    second = "claim" if first == "dispatch" else "dispatch"

    _race(sides[first], sides[second])

    outcome = {name: side.result for name, side in sides.items()}
    if first == "dispatch":
        assert outcome == {"dispatch": ["A"], "claim": None}
    else:
        assert outcome == {"dispatch": [], "claim": "B"}
    in_progress = set(project.tasks.filter(status="in_progress").values_list("key", flat=True))
    assert in_progress == {"A" if first == "dispatch" else "B"}


def _names_in_lock_order(project, count: int) -> list[str]:
    """`count` file names whose advisory lock keys come in the order listed."""
    from planning.services.claims import _file_lock_key

    names = [f"calc/m{i}.py" for i in range(count * 4)]
    return sorted(names, key=lambda name: _file_lock_key(project.pk, name))[:count]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite runs one writer at a time: no race"
)
def test_a_dispatch_of_two_tasks_and_a_claim_lock_files_in_one_order(
    append_only_rows_cleared, project, coding_model
):
    """A dispatch starting A1 (file x) and A2 (files z and y), and a claim of B (x and y),
    where z is locked elsewhere for a while: had the dispatch locked x for A1 and then
    waited for z, the claim would lock y and wait for x, and the dispatch then wait for y:
    a deadlock. Locking every file the dispatch needs at once, in the one order, the
    claim gets its files first and the dispatch then passes both tasks by."""
    from planning.services.claims import _file_lock_key
    from planning.statements import FILE_LOCK, FILE_LOCK_SPACE

    z, y, x = _names_in_lock_order(project, 3)
    outside = external_agent(project, "outside")
    TaskFactory(project=project, key="A1", files=[x], priority="high")
    TaskFactory(project=project, key="A2", files=[z, y], priority="medium")
    TaskFactory(project=project, key="B", files=[x, y], assigned_agent=outside)
    AgentFactory(project=project, name="coder-1", type="coder")
    AgentFactory(project=project, name="coder-2", type="coder")
    project.status = "active"
    project.max_concurrent_runs = 3
    project.save()

    def hold_z() -> None:
        with connection.cursor() as cursor:
            cursor.execute(FILE_LOCK, (FILE_LOCK_SPACE, _file_lock_key(project.pk, z)))

    holder = Side(hold_z, hold=True)
    dispatcher = Side(
        lambda: [run.task.key for run in orchestrator.dispatch(project=project)], hold=False
    )
    claimer = Side(lambda: claimed_key(outside), hold=False)
    holder.start()
    try:
        assert holder.done.wait(HANG_S)
        dispatcher.start()
        dispatcher.wait_until_blocked_or_finished()
        claimer.start()
        claimer.wait_until_blocked_or_finished()
    finally:
        holder.commit.set()
        for side in (holder, dispatcher, claimer):
            side.join(HANG_S)

    assert (dispatcher.result, claimer.result) == ([], "B")
    in_progress = set(project.tasks.filter(status="in_progress").values_list("key", flat=True))
    assert in_progress == {"B"}
