"""Reads for the analytics page, a page of each list at a time: counts and progress by
aggregate queries, the task sets as sliced queries, waves and the critical path from the
cached graph (planning.plan_graph). A constant number of queries, whatever the plan."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from planning.analytics import FeatureProgress
from planning.models import Project, SubFeature, Task
from planning.selectors import task_ready_list

OPEN_STATUSES = tuple(set(Task.Status.values) - {Task.Status.DONE, Task.Status.CANCELLED})
STARTED = (Task.Status.IN_PROGRESS, Task.Status.REVIEW)


@dataclass(frozen=True)
class Slice:
    """One page of a list whose length is already known (so no count query is spent)."""

    number: int
    per_page: int
    total: int

    @classmethod
    def of(cls, raw: str | None, *, per_page: int, total: int) -> Slice:
        pages = max(1, -(-total // per_page))
        number = int(raw) if raw and raw.isdigit() else 1
        return cls(number=min(max(number, 1), pages), per_page=per_page, total=total)

    @property
    def start(self) -> int:
        return (self.number - 1) * self.per_page

    @property
    def end(self) -> int:
        return self.start + self.per_page

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


@dataclass(frozen=True)
class StateCounts:
    total: int
    ready: int
    blocked: int
    in_progress: int
    done: int


def state_counts(*, project: Project) -> StateCounts:
    """Tasks by analytics state (two queries: the statuses, and which pending tasks are
    ready)."""
    row = project.tasks.aggregate(
        total=Count("id"),
        pending=Count("id", filter=Q(status=Task.Status.PENDING)),
        blocked=Count("id", filter=Q(status=Task.Status.BLOCKED)),
        in_progress=Count("id", filter=Q(status__in=STARTED)),
        done=Count("id", filter=Q(status=Task.Status.DONE)),
    )
    ready = task_ready_list(project=project).count()
    return StateCounts(
        total=row["total"],
        ready=ready,
        blocked=row["blocked"] + row["pending"] - ready,
        in_progress=row["in_progress"],
        done=row["done"],
    )


def task_set(*, project: Project, name: str) -> QuerySet[Task]:
    """The tasks of one analytics state, by key: `ready` (pending, every dependency and
    plan dependency done), `blocked` (marked blocked, or pending but not ready),
    `in-progress` (in progress or in review) or `done`."""
    tasks = project.tasks.all()
    ready = task_ready_list(project=project)
    if name == "ready":
        tasks = ready
    elif name == "blocked":
        tasks = tasks.filter(
            Q(status=Task.Status.BLOCKED)
            | (Q(status=Task.Status.PENDING) & ~Q(pk__in=ready.values("pk")))
        )
    elif name == "in-progress":
        tasks = tasks.filter(status__in=STARTED)
    elif name == "done":
        tasks = tasks.filter(status=Task.Status.DONE)
    else:
        raise ValueError(f"no task set {name!r}")
    return tasks.order_by("key")


def feature_progress(*, project: Project, start: int, end: int) -> list[FeatureProgress]:
    """Features `start` to `end` in plan order with their task counts and the estimates
    of their tasks not done or cancelled (one query)."""
    rows = project.features.annotate(
        total=Count("tasks"),
        done=Count("tasks", filter=Q(tasks__status=Task.Status.DONE)),
        remaining_minutes=Coalesce(
            Sum("tasks__estimated_minutes", filter=Q(tasks__status__in=OPEN_STATUSES)),
            Value(0),
            output_field=IntegerField(),
        ),
    ).order_by("position", "key")[start:end]
    return [
        FeatureProgress(
            key=f.key,
            name=f.name,
            total=f.total,
            done=f.done,
            remaining_minutes=f.remaining_minutes,
        )
        for f in rows
    ]


def plan_rows(*, project: Project) -> QuerySet[SubFeature]:
    """Sub-features (plans) in plan order, with their feature's key, for the waves table."""
    return project.sub_features.select_related("feature").order_by(
        "feature__position", "feature__key", "position", "key"
    )


def task_labels(*, project: Project, keys: list[str]) -> dict[str, tuple[int, str]]:
    """key -> (id, name) of the named tasks (one query)."""
    return {
        key: (pk, name)
        for pk, key, name in project.tasks.filter(key__in=keys).values_list("pk", "key", "name")
    }
