"""Reads for the plan page, sized by what one screen shows rather than by the plan.

The page lists features collapsed, with counts and progress from aggregate queries; a
feature's sub-features and a group's tasks are read a page at a time when they are
opened. A cheap change stamp lets a live page ask "anything new?" in one query.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from planning.models import (
    Feature,
    Project,
    Requirement,
    SubFeature,
    Task,
    TaskDependency,
)

# A group of tasks the page opens on its own: a sub-feature's, a feature's loose tasks
# (outside any sub-feature), or the tasks outside any feature.
GROUP_SUB_FEATURE = "sub_feature"
GROUP_FEATURE = "feature"
GROUP_UNASSIGNED = "unassigned"

DONE = Task.Status.DONE
STARTED = (Task.Status.IN_PROGRESS, Task.Status.REVIEW)


@dataclass(frozen=True)
class PlanCounts:
    """The whole plan's task counts (one aggregate query)."""

    total: int
    done: int
    review: int
    # In progress, of which `verifying` have their checks running.
    in_progress: int
    verifying: int = 0

    @property
    def active(self) -> bool:
        """Whether agents are at work on the plan: what keeps a live page polling."""
        return self.in_progress > 0

    @property
    def coding(self) -> int:
        return self.in_progress - self.verifying


def plan_counts(*, project: Project) -> PlanCounts:
    row = project.tasks.aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(status=DONE)),
        review=Count("id", filter=Q(status=Task.Status.REVIEW)),
        in_progress=Count("id", filter=Q(status=Task.Status.IN_PROGRESS)),
        verifying=Count("id", filter=Q(status=Task.Status.IN_PROGRESS) & task_verifying()),
    )
    return PlanCounts(**row)


def is_live(project: Project, counts: PlanCounts) -> bool:
    """Whether a live page keeps asking for changes: agents are at work on a task, or the
    project runs (an idle agent may claim a task any moment)."""
    return counts.active or project.status == Project.Status.ACTIVE


def _runs_verifying() -> QuerySet[Any]:
    # Planning does not import the agents app (its arrows point this way): the model is
    # the one Task.runs comes from, and the status and stage are its own choices.
    run_model = apps.get_model("agents", "AgentRun")
    runs: QuerySet[Any] = run_model._default_manager.filter(
        status=run_model.Status.RUNNING, stage=run_model.Stage.VERIFYING
    )
    return runs


def task_verifying() -> Exists:
    """Whether a task's current coding attempt is running its checks (for annotate() and
    filters), one EXISTS over the runs' task index."""
    return Exists(_runs_verifying().filter(task=OuterRef("pk")))


def feature_outline(*, project: Project) -> QuerySet[Feature]:
    """The project's features in plan order; counts come from with_counts()."""
    return project.features.order_by("position", "key")


def sub_feature_outline(*, feature: Feature) -> QuerySet[SubFeature]:
    """A feature's sub-features in plan order; counts come from with_counts()."""
    return feature.sub_features.order_by("position", "key")


def with_counts(items: list[Feature] | list[SubFeature]) -> None:
    """Give each feature or sub-feature its `task_count`, `done_count` and
    `started_count`; features also their `loose_count` (tasks outside any sub-feature)
    and `sub_feature_count`. One grouped query over their tasks (two for features), so
    a page of them costs the same whatever their size. (Annotating the page's query
    instead makes the database join every task to its feature first.)"""
    if not items:
        return
    is_feature = isinstance(items[0], Feature)
    column = "feature_id" if is_feature else "sub_feature_id"
    by_id = {item.pk: item for item in items}
    counts = {
        row[column]: row
        for row in Task.objects.filter(**{f"{column}__in": by_id})
        .order_by()
        .values(column)
        .annotate(
            total=Count("pk"),
            done=Count("pk", filter=Q(status=DONE)),
            started=Count("pk", filter=Q(status__in=STARTED)),
            loose=Count("pk", filter=Q(sub_feature__isnull=True)),
        )
    }
    subs: dict[int, int] = {}
    if is_feature:
        subs = dict(
            SubFeature.objects.filter(feature_id__in=by_id)
            .order_by()
            .values("feature_id")
            .annotate(n=Count("pk"))
            .values_list("feature_id", "n")
        )
    for pk, item in by_id.items():
        row = counts.get(pk, {})
        item.task_count = row.get("total", 0)  # type: ignore[union-attr]
        item.done_count = row.get("done", 0)  # type: ignore[union-attr]
        item.started_count = row.get("started", 0)  # type: ignore[union-attr]
        if is_feature:
            item.loose_count = row.get("loose", 0)  # type: ignore[union-attr]
            item.sub_feature_count = subs.get(pk, 0)  # type: ignore[union-attr]


def unassigned_task_count(*, project: Project) -> int:
    return project.tasks.filter(feature__isnull=True).count()


def task_group(*, project: Project, kind: str, pk: int | None) -> QuerySet[Task]:
    """One group's tasks, in plan order (task_rows() adds what a row shows). Raises
    Http404 for a group not of this project."""
    tasks = project.tasks.all()
    if kind == GROUP_SUB_FEATURE and pk is not None:
        if not project.sub_features.filter(pk=pk).exists():
            raise Http404("No such sub-feature.")
        tasks = tasks.filter(sub_feature_id=pk)
    elif kind == GROUP_FEATURE and pk is not None:
        if not project.features.filter(pk=pk).exists():
            raise Http404("No such feature.")
        tasks = tasks.filter(feature_id=pk, sub_feature__isnull=True)
    elif kind == GROUP_UNASSIGNED:
        tasks = tasks.filter(feature__isnull=True)
    else:
        raise Http404("No such group of tasks.")
    return tasks.order_by("position", "sort_key", "key")


def task_rows(tasks: QuerySet[Task]) -> QuerySet[Task]:
    """`tasks` as the plan page's rows show them: with their agents, feature and
    sub-feature, and their number of dependencies (a scalar subquery, not Count(), so
    only these rows' dependencies are counted)."""
    edges = TaskDependency.objects.filter(task=OuterRef("pk")).order_by().values("task")
    dependency_count = Coalesce(Subquery(edges.annotate(n=Count("pk")).values("n")), Value(0))
    return tasks.select_related("assigned_agent", "coded_by", "feature", "sub_feature").annotate(
        dependency_count=dependency_count
    )


def task_group_position(*, task: Task) -> tuple[str, int | None, int]:
    """Which group a task is shown in and its place there (0-based), so that a link to
    the task can open the page of its group that holds it."""
    if task.sub_feature_id:
        kind, pk = GROUP_SUB_FEATURE, task.sub_feature_id
        group = Task.objects.filter(sub_feature_id=pk)
    elif task.feature_id:
        kind, pk = GROUP_FEATURE, task.feature_id
        group = Task.objects.filter(feature_id=pk, sub_feature__isnull=True)
    else:
        kind, pk = GROUP_UNASSIGNED, None
        group = Task.objects.filter(project_id=task.project_id, feature__isnull=True)
    before = group.filter(
        Q(position__lt=task.position) | Q(position=task.position, key__lt=task.key)
    ).count()
    return kind, pk, before


def _stamp_of(model: type[Task] | type[Feature] | type[SubFeature], field: str) -> Subquery:
    """The latest `updated_at` of the project's rows of one model, off the end of its
    (project, updated_at) index: any row saved or added moves it. A deleted row does
    not: deleting plan rows touches the project instead
    (planning.services.plan_rows_deleted), so no poll counts a project's rows."""
    rows = model._default_manager.filter(project_id=OuterRef(field))
    return Subquery(rows.order_by("-updated_at").values("updated_at")[:1])


def _verifying_stamp(field: str) -> Subquery:
    """How many of the project's coding attempts are running their checks, over the
    runs' partial index of exactly those: a task moves to the board's Verifying column
    and out of it without being saved itself."""
    runs = _runs_verifying().filter(project_id=OuterRef(field))
    return Subquery(runs.order_by().values("project_id").annotate(n=Count("pk")).values("n"))


def stamp_annotations(project_field: str) -> dict[str, Subquery]:
    annotations = {
        f"{name}_last": _stamp_of(model, project_field)
        for name, model in (("task", Task), ("feature", Feature), ("sub", SubFeature))
    }
    annotations["verifying"] = _verifying_stamp(project_field)
    return annotations


def stamp_digest(row: dict[str, object]) -> str:
    raw = "|".join(f"{key}={value}" for key, value in sorted(row.items()))
    return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def plan_stamp(*, project: Project) -> str:
    """A short tag that changes whenever anything the plan shows changes: the project
    (its status), any feature, sub-feature or task saved, added or deleted (a deletion
    touches the project), and a coding attempt starting or ending its checks (one
    query, of index probes only, whatever the plan's size). Dependency edges alone do
    not move it: services that add or remove one save its task too."""
    annotations = stamp_annotations("pk")
    row = (
        Project.objects.filter(pk=project.pk)
        .annotate(**annotations)
        .values("updated_at", "status", *annotations)
        .get()
    )
    return stamp_digest(row)


@dataclass(frozen=True)
class DeletionImpact:
    """What goes with an item deleted from the plan, as its confirmation counts it."""

    sub_features: int = 0
    tasks: int = 0
    subtasks: int = 0
    # Tasks (or sub-features) elsewhere in the plan that wait for what is deleted: they
    # lose that dependency.
    waiting_tasks: int = 0
    waiting_sub_features: int = 0
    requirement_links: int = 0
    # A requirement's links, which go with it.
    linked_features: int = 0
    linked_sub_features: int = 0

    @property
    def anything(self) -> bool:
        return any(vars(self).values())


def _waiting_outside(tasks: QuerySet[Task]) -> int:
    return (
        TaskDependency.objects.filter(depends_on__in=tasks)
        .exclude(task__in=tasks)
        .values("task_id")
        .distinct()
        .count()
    )


def feature_deletion_impact(*, feature: Feature) -> DeletionImpact:
    """What deleting `feature` takes along (a constant number of count queries)."""
    tasks = Task.objects.filter(feature_id=feature.pk)
    return DeletionImpact(
        sub_features=SubFeature.objects.filter(feature_id=feature.pk).count(),
        tasks=tasks.count(),
        waiting_tasks=_waiting_outside(tasks),
        requirement_links=Requirement.features.through.objects.filter(
            feature_id=feature.pk
        ).count(),
    )


def sub_feature_deletion_impact(*, sub_feature: SubFeature) -> DeletionImpact:
    tasks = Task.objects.filter(sub_feature_id=sub_feature.pk)
    return DeletionImpact(
        tasks=tasks.count(),
        waiting_tasks=_waiting_outside(tasks),
        waiting_sub_features=sub_feature.dependent_edges.count(),
        requirement_links=sub_feature.requirements.count(),
    )


def task_deletion_impact(*, task: Task) -> DeletionImpact:
    tasks = Task.objects.filter(Q(pk=task.pk) | Q(parent_id=task.pk))
    return DeletionImpact(subtasks=task.subtasks.count(), waiting_tasks=_waiting_outside(tasks))
