"""Reads for the analytics pages and the API's analytics, a page of each list at a time.
Waves and the critical path come from the cached graph (planning.plan_graph); the task
sets (which tasks are ready needs every pending task's dependencies) and the progress per
feature are computed once per change of the plan too and kept in the cache under the
same change stamp, so a view of an unchanged plan reads them back rather than running
the queries again. A constant number of queries, whatever the plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.core.cache import cache
from django.db.models import Count, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from planning.analytics import FeatureProgress
from planning.models import Project, SubFeature, Task
from planning.outline import plan_stamp
from planning.plan_graph import CACHE_SECONDS, plan_graph
from planning.selectors import task_ready_list

T = TypeVar("T")

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


@dataclass(frozen=True)
class TaskSets:
    """Every task's key by analytics state, each list in key order (the database's)."""

    ready: list[str]
    blocked: list[str]
    in_progress: list[str]
    done: list[str]
    total: int

    @property
    def counts(self) -> StateCounts:
        return StateCounts(
            total=self.total,
            ready=len(self.ready),
            blocked=len(self.blocked),
            in_progress=len(self.in_progress),
            done=len(self.done),
        )

    def of(self, name: str) -> list[str]:
        """The set called `name` on the page and in the API (`in-progress` or `in_progress`)."""
        return {
            "ready": self.ready,
            "blocked": self.blocked,
            "in-progress": self.in_progress,
            "in_progress": self.in_progress,
            "done": self.done,
        }[name]


def cached_per_stamp(project: Project, stamp: str, name: str, compute: Callable[[], T]) -> T:
    """`compute()` once per change of the plan (`stamp`, planning.outline.plan_stamp),
    kept in the cache; an entry is never stale, only unused once the plan changes."""
    key = f"planning:analytics:1:{project.pk}:{stamp}:{name}"
    value: T | None = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, CACHE_SECONDS)
    return value


def task_sets(*, project: Project, stamp: str) -> TaskSets:
    """The ready, blocked, in-progress and done sets as of `stamp` (two queries on a cache
    miss: every task's key and status, and the ready ones; none after)."""

    def compute() -> TaskSets:
        rows = list(project.tasks.order_by("key").values_list("key", "status"))
        ready = list(task_ready_list(project=project).order_by("key").values_list("key", flat=True))
        ready_keys = set(ready)
        by_status: dict[str, list[str]] = {}
        blocked = []
        for key, status in rows:
            by_status.setdefault(status, []).append(key)
            if status == Task.Status.BLOCKED or (
                status == Task.Status.PENDING and key not in ready_keys
            ):
                blocked.append(key)
        return TaskSets(
            ready=ready,
            blocked=blocked,
            in_progress=[key for key, status in rows if status in STARTED],
            done=by_status.get(Task.Status.DONE, []),
            total=len(rows),
        )

    return cached_per_stamp(project, stamp, "sets", compute)


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


# The API lists this many items of each of its lists and maps a page.
API_PER_PAGE = 1000
API_LISTS = (
    "waves",
    "wave_warnings",
    "task_waves",
    "critical_path",
    "ready",
    "blocked",
    "done",
    "in_progress",
    "progress",
)


@dataclass(frozen=True)
class AnalyticsPage:
    """One page of the API's analytics: each list (and each map, in key order) is sliced
    to the same page; `counts` says how long each is in all."""

    page: int
    per_page: int
    has_next: bool
    counts: dict[str, int]
    waves: dict[str, int]
    wave_warnings: list[str]
    task_waves: dict[str, int]
    critical_path: list[str]
    critical_path_minutes: int
    ready: list[str]
    blocked: list[str]
    done: list[str]
    in_progress: list[str]
    progress: list[FeatureProgress]
    task_cycle: list[str] | None
    plan_cycle: list[str] | None


def analytics_page(*, project: Project, page: int) -> AnalyticsPage:
    """Page `page` (from 1) of the plan's analytics: the graph figures and task sets read
    back from the cache while the plan is unchanged, the progress of the page's features
    (one query, then cached too). Past the last page every list is empty."""
    stamp = plan_stamp(project=project)
    graph = plan_graph(project=project, stamp=stamp)
    sets = task_sets(project=project, stamp=stamp)
    start, end = (page - 1) * API_PER_PAGE, page * API_PER_PAGE
    feature_total = project.features.count()
    progress = (
        cached_per_stamp(
            project,
            stamp,
            f"api-progress:{page}",
            lambda: feature_progress(project=project, start=start, end=end),
        )
        if start < feature_total
        else []
    )
    counts = {
        "waves": len(graph.waves),
        "wave_warnings": len(graph.wave_warnings),
        "task_waves": len(graph.task_waves),
        "critical_path": len(graph.critical_path),
        "ready": len(sets.ready),
        "blocked": len(sets.blocked),
        "done": len(sets.done),
        "in_progress": len(sets.in_progress),
        "progress": feature_total,
    }

    def part(mapping: dict[str, int]) -> dict[str, int]:
        return {key: mapping[key] for key in sorted(mapping)[start:end]}

    return AnalyticsPage(
        page=page,
        per_page=API_PER_PAGE,
        has_next=end < max(counts.values()),
        counts=counts,
        waves=part(graph.waves),
        wave_warnings=graph.wave_warnings[start:end],
        task_waves=part(graph.task_waves),
        critical_path=graph.critical_path[start:end],
        critical_path_minutes=graph.critical_path_minutes,
        ready=sets.ready[start:end],
        blocked=sets.blocked[start:end],
        done=sets.done[start:end],
        in_progress=sets.in_progress[start:end],
        progress=progress,
        task_cycle=graph.task_cycle,
        plan_cycle=graph.plan_cycle,
    )
