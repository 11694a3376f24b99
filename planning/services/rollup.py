"""Features, sub-features and the project follow their tasks: the status roll-up.

Whenever a task's status or place changes, its feature and sub-feature are derived
again from their tasks:

- every task cancelled: cancelled;
- every task done, cancelled ones aside: done;
- any task started (in progress, in review, blocked, done or failed): in progress;
- otherwise a backlog or planned one stays as it is; one that had moved on (a reopened
  task left nothing started) is in progress again, a cancelled one planned again.

A container without tasks keeps the status a person gave it. The project is completed
(with completed_at) once it has a task and every one is done, cancelled and deferred
ones aside, if it was active or still planning; a completed project with work left is
active again. Paused and archived projects are left alone, and the roll-up never makes a
planning project active.

Locks. It runs in the transaction that changed the tasks, after them, and never waits
for a lock there: the paths that change tasks lock the agent, the run and the task, in
that order, and dispatch and plan imports take the project's row before anything else,
so a roll-up that waited for the project's row (or for a feature's, which an import
updates before its tasks) while holding a task could close a cycle. Each row is locked
before its tasks are counted, so two transactions that each finish one of a plan's last
two tasks cannot both count the other's as unfinished: the second finds the row locked.
A row another transaction holds is skipped, and rolled up again once this transaction
commits, in short transactions of their own that hold nothing but those rows (features,
then sub-features; the project alone), and so may wait. On SQLite writers take turns,
and nothing is ever skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import partial

from django.db import connection, transaction
from django.db.models import Count, Exists, Model, OuterRef, Q
from django.utils import timezone

from core.db import prepared_cursor
from planning import run_end_statements, statements
from planning.models import Feature, Project, SubFeature, Task, WorkStatus

# What makes a feature or sub-feature in progress.
STARTED = (
    Task.Status.IN_PROGRESS,
    Task.Status.REVIEW,
    Task.Status.BLOCKED,
    Task.Status.DONE,
    Task.Status.FAILED,
)
# Statuses a task may be set to that could finish its project.
CLOSING = (Task.Status.DONE, Task.Status.CANCELLED, Task.Status.DEFERRED)
# Tasks a project need not finish to be completed.
SET_ASIDE = (Task.Status.CANCELLED, Task.Status.DEFERRED)
WAITING = (WorkStatus.BACKLOG, WorkStatus.PLANNED)


@dataclass(frozen=True)
class RollupResult:
    """What a roll-up changed in the caller's transaction (id -> new status), and whether
    part of it waits for the transaction's commit because another one held a row."""

    features: dict[int, str] = field(default_factory=dict)
    sub_features: dict[int, str] = field(default_factory=dict)
    project_status: str | None = None
    deferred: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.features or self.sub_features or self.project_status)


def rolled_up_status(current: str, *, total: int, cancelled: int, done: int, started: int) -> str:
    """The status a feature or sub-feature with these task counts should have."""
    if total == 0:
        return current
    if cancelled == total:
        return WorkStatus.CANCELLED
    if done == total - cancelled:
        return WorkStatus.DONE
    if started or current in (WorkStatus.IN_PROGRESS, WorkStatus.DONE):
        # Once started, a container never falls back to waiting: a claim that sees it
        # started can then leave it be, without a lock (plan_status_task_started).
        return WorkStatus.IN_PROGRESS
    return current if current in WAITING else WorkStatus.PLANNED


def plan_status_rollup(
    *,
    project_id: int,
    task_ids: Iterable[int] | None = None,
    feature_ids: Iterable[int] = (),
    sub_feature_ids: Iterable[int] = (),
) -> RollupResult:
    """Derive again, inside the caller's transaction, the status of the features and
    sub-features of `task_ids` (every one of the project's when None), of
    `feature_ids` and `sub_feature_ids` besides (those a task just left), and the
    project's. A constant number of queries, whatever the number of tasks.

    Pass the ids of tasks that were deleted too: the project may be finished without
    them. Rows another transaction holds are rolled up once the caller's commits.
    """
    with transaction.atomic(savepoint=False):
        features: set[int] | None = None
        subs: set[int] | None = None
        could_finish = True
        if task_ids is not None:
            ids = set(task_ids)
            rows = _tasks_places(ids, project_id)
            features = {f for f, _, _ in rows if f is not None} | set(feature_ids)
            subs = {s for _, s, _ in rows if s is not None} | set(sub_feature_ids)
            # A task deleted, or closed, may have been the last one left to do.
            could_finish = len(rows) < len(ids) or any(s in CLOSING for *_, s in rows)
        held_features, changed_features = _containers(Feature, project_id, features, wait=False)
        held_subs, changed_subs = _containers(SubFeature, project_id, subs, wait=False)
        project_status, project_held = _project(project_id, could_finish=could_finish, wait=False)
        if held_features or held_subs or project_held:
            transaction.on_commit(
                partial(
                    _roll_up_after_commit,
                    project_id=project_id,
                    feature_ids=held_features,
                    sub_feature_ids=held_subs,
                    project=project_held,
                ),
                robust=True,
            )
        return RollupResult(
            features=changed_features,
            sub_features=changed_subs,
            project_status=project_status,
            deferred=bool(held_features or held_subs or project_held),
        )


def plan_status_task_started(
    *,
    project_id: int,
    feature_id: int | None,
    sub_feature_id: int | None,
    feature_status: str | None,
    sub_feature_status: str | None,
) -> None:
    """The roll-up of a claim, inside its transaction: a task of this feature and
    sub-feature (whose statuses the claim read) went from pending to in progress.

    Whatever else it holds, a container with a task in progress is in progress. Claims
    are a hot path: one already in progress needs nothing (it never falls back to
    waiting while a task is open), so most claims make no query.
    """
    marks = [
        (table, pk)
        for table, pk, status in (
            (Feature._meta.db_table, feature_id, feature_status),
            (SubFeature._meta.db_table, sub_feature_id, sub_feature_status),
        )
        if pk is not None and status != WorkStatus.IN_PROGRESS
    ]
    if not marks:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    held: dict[str, set[int]] = defaultdict(set)
    with prepared_cursor() as cursor:
        for table, pk in marks:
            cursor.execute(statements.container_start(table, connection.vendor), (now, pk))
            if cursor.rowcount == 0:
                # Held by another transaction (or moved on meanwhile): look again after.
                held[table].add(pk)
    if held:
        transaction.on_commit(
            partial(
                _roll_up_after_commit,
                project_id=project_id,
                feature_ids=held[Feature._meta.db_table],
                sub_feature_ids=held[SubFeature._meta.db_table],
                project=False,
            ),
            robust=True,
        )


def _roll_up_after_commit(
    *,
    project_id: int,
    feature_ids: Collection[int],
    sub_feature_ids: Collection[int],
    project: bool,
) -> None:
    # Its own short transactions, which hold nothing else, so waiting is safe; the
    # project's row after the others', in a transaction of its own, as imports take it
    # before theirs.
    with transaction.atomic():
        _containers(Feature, project_id, set(feature_ids), wait=True)
        _containers(SubFeature, project_id, set(sub_feature_ids), wait=True)
    if project:
        with transaction.atomic():
            _project(project_id, could_finish=True, wait=True)


def _locked(model: type[Model], rows: Q, *, wait: bool) -> set[int]:
    """Lock the rows (all of them, or those no other transaction holds) and return the
    ids locked. FOR NO KEY UPDATE, the lock an UPDATE of a status takes, does not
    conflict with the key-share locks that inserting a task takes on its parents."""
    locked = (
        model._default_manager.filter(rows)
        .order_by("pk")
        .select_for_update(no_key=True, skip_locked=not wait)
        .values_list("pk", flat=True)
    )
    return set(locked)


def _containers(
    model: type[Feature] | type[SubFeature],
    project_id: int,
    ids: set[int] | None,
    *,
    wait: bool,
) -> tuple[set[int], dict[int, str]]:
    """Roll up the project's features or sub-features (those of `ids`; all when None).
    Returns the ids another transaction held, and the new statuses of those changed."""
    if ids is not None and not ids:
        return set(), {}
    scope = Q(project_id=project_id) if ids is None else Q(pk__in=ids, project_id=project_id)
    locked = _locked(model, scope, wait=wait)
    # Counted after the lock, in a statement of its own: it sees what the transaction
    # that held a row before committed.
    counts = (
        model._default_manager.filter(scope)
        .order_by()
        .values_list("pk", "status")
        .annotate(
            total=Count("tasks"),
            cancelled=Count("tasks", filter=Q(tasks__status=Task.Status.CANCELLED)),
            done=Count("tasks", filter=Q(tasks__status=Task.Status.DONE)),
            started=Count("tasks", filter=Q(tasks__status__in=STARTED)),
        )
    )
    held: set[int] = set()
    changed: dict[int, str] = {}
    by_status: dict[str, list[int]] = defaultdict(list)
    for pk, current, total, cancelled, done, started in counts:
        if pk not in locked:
            held.add(pk)
            continue
        status = rolled_up_status(
            current, total=total, cancelled=cancelled, done=done, started=started
        )
        if status != current:
            changed[pk] = status
            by_status[status].append(pk)
    now = timezone.now()
    for status, pks in by_status.items():  # at most one UPDATE a status
        model._default_manager.filter(pk__in=pks).update(status=status, updated_at=now)
    return held, changed


def _tasks_places(ids: set[int], project_id: int) -> list[tuple[int | None, int | None, str]]:
    """The feature, sub-feature and status of each of the project's tasks among `ids`.
    A few tasks (every task run's end rolls its task up) are read by a prepared
    statement; many (an import's) by a queryset, whose parameters PostgreSQL does not
    limit in number."""
    if len(ids) > run_end_statements.PLACES_PREPARED:
        places = Task.objects.filter(pk__in=ids, project_id=project_id).values_list(
            "feature_id", "sub_feature_id", "status"
        )
        return list(places)
    if not ids:
        return []
    with prepared_cursor() as cursor:
        cursor.execute(run_end_statements.tasks_places(len(ids)), [*ids, project_id])
        return [tuple(row) for row in cursor.fetchall()]


def _project(project_id: int, *, could_finish: bool, wait: bool) -> tuple[str | None, bool]:
    """Complete the project, or make a completed one active again, as its tasks say.
    Returns its new status (None: unchanged) and whether another transaction held it."""
    with prepared_cursor() as cursor:
        cursor.execute(run_end_statements.project_status(), (project_id,))
        found = cursor.fetchone()
    status = None if found is None else found[0]
    finishable = (Project.Status.ACTIVE, Project.Status.PLANNING)
    if status != Project.Status.COMPLETED and not (could_finish and status in finishable):
        return None, False
    if not _locked(Project, Q(pk=project_id), wait=wait):
        return None, True
    counted = Task.objects.filter(project_id=OuterRef("pk")).exclude(status__in=SET_ASIDE)
    open_tasks = counted.exclude(status=Task.Status.DONE)
    now = timezone.now()
    # The conditions are read again under the lock, in statements of their own.
    projects = Project.objects.filter(pk=project_id)
    if status == Project.Status.COMPLETED:
        reopened = projects.filter(Exists(open_tasks), status=Project.Status.COMPLETED)
        if reopened.update(status=Project.Status.ACTIVE, completed_at=None, updated_at=now):
            return Project.Status.ACTIVE, False
        return None, False
    finished = projects.filter(Exists(counted), ~Exists(open_tasks), status__in=finishable)
    if finished.update(status=Project.Status.COMPLETED, completed_at=now, updated_at=now):
        return Project.Status.COMPLETED, False
    return None, False
