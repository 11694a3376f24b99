"""The status roll-up under concurrent transactions (PostgreSQL: SQLite serialises
writers). It never waits for a lock inside the transaction that changed a task, and two
transactions that each see only their own change still leave the right status."""

import threading
from collections.abc import Callable, Iterator

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from planning import services
from planning.models import Feature, Project, SubFeature, Task
from planning.services.claims import task_claim_next
from planning.services.rollup import RollupResult, plan_status_rollup
from tests.factories import AgentFactory, FeatureFactory, SubFeatureFactory, TaskFactory
from tests.hang import HANG_S

pytestmark = pytest.mark.django_db(transaction=True)

# A statement that waited for a lock would fail after this, rather than hang the suite;
# one that never waits never sees it, however slow the machine.
LOCK_TIMEOUT = "5s"


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")


@pytest.fixture
def plan(project: Project) -> SubFeature:
    """An active project whose one plan has two tasks in review, the last open ones."""
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ACTIVE)
    sub = SubFeatureFactory(feature=FeatureFactory(project=project, status="in_progress"))
    SubFeature.objects.filter(pk=sub.pk).update(status="in_progress")
    for key in ("T1", "T2"):
        TaskFactory(project=project, key=key, feature=sub.feature, sub_feature=sub, status="review")
    return sub


def in_thread(work: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


class Holder:
    """Runs `lock` in a transaction of another connection, which keeps what it locked
    until `release` (or the test's end)."""

    def __init__(self) -> None:
        self.locked, self.released = threading.Event(), threading.Event()
        self.threads: list[threading.Thread] = []

    def hold(self, lock: Callable[[], object]) -> None:
        def work() -> None:
            with transaction.atomic():
                lock()
                self.locked.set()
                self.released.wait(timeout=HANG_S)

        self.threads.append(in_thread(work))
        assert self.locked.wait(timeout=HANG_S)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def holder() -> Iterator[Holder]:
    held = Holder()
    yield held
    held.release()
    for thread in held.threads:
        thread.join(timeout=HANG_S)


def no_lock_waits() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def test_two_transactions_finishing_the_last_two_tasks_leave_the_plan_done(plan, project):
    both_rolled_up = threading.Barrier(2, timeout=HANG_S)
    results: dict[str, RollupResult] = {}

    def finish(key: str) -> Callable[[], None]:
        def work() -> None:
            with transaction.atomic():
                no_lock_waits()
                task = Task.objects.get(project=project, key=key)
                Task.objects.filter(pk=task.pk).update(status="done")
                results[key] = plan_status_rollup(project_id=project.pk, task_ids=[task.pk])
                # Neither has committed: each counted the other's task as in review.
                both_rolled_up.wait()
            # Committed: a roll-up left for after the commit has run by now.

        return work

    threads = [in_thread(finish("T1")), in_thread(finish("T2"))]
    for thread in threads:
        thread.join(timeout=HANG_S)

    # At least one found a row the other held and left its roll-up for after its commit.
    # Which rows each got first depends on how the two interleave: both may defer (one
    # took the feature, the other the plan), and the plan must end done either way.
    assert any(r.deferred for r in results.values())
    assert SubFeature.objects.get(pk=plan.pk).status == "done"
    assert Feature.objects.get(pk=plan.feature_id).status == "done"
    finished = Project.objects.get(pk=project.pk)
    assert finished.status == "completed" and finished.completed_at is not None


def test_finishing_a_project_never_waits_for_dispatch_holding_it(plan, project, holder):
    # Dispatch locks the project's row first, then agents and tasks; a run's end that
    # waited for that row while holding its agent and task could close a cycle.
    holder.hold(lambda: list(Project.objects.select_for_update().filter(pk=project.pk)))
    Task.objects.filter(project=project, key="T1").update(status="done")

    with transaction.atomic():
        no_lock_waits()
        services.task_set_status(task=Task.objects.get(project=project, key="T2"), status="done")
        assert SubFeature.objects.get(pk=plan.pk).status == "done"
        assert Project.objects.get(pk=project.pk).status == "active"  # left for later
        holder.release()  # dispatch commits

    assert Project.objects.get(pk=project.pk).status == "completed"


def test_a_claim_never_waits_for_a_plan_another_transaction_holds(project, holder):
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ACTIVE)
    sub = SubFeatureFactory(project=project)
    TaskFactory(project=project, key="T1", feature=sub.feature, sub_feature=sub)
    agent = AgentFactory(project=project, type="external")
    holder.hold(lambda: list(SubFeature.objects.select_for_update().filter(pk=sub.pk)))

    with transaction.atomic():
        no_lock_waits()
        claimed = task_claim_next(project_id=project.pk, agent_id=agent.pk, now=timezone.now())
        assert claimed is not None
        assert SubFeature.objects.get(pk=sub.pk).status == "planned"  # left for later
        assert Feature.objects.get(pk=sub.feature_id).status == "in_progress"
        holder.release()

    assert SubFeature.objects.get(pk=sub.pk).status == "in_progress"
