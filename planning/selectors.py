"""Read-side queries for planning. Every selector returns rows already joined for its caller."""

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from planning.models import (
    Feature,
    Project,
    ProjectMembership,
    Requirement,
    SubFeature,
    SubFeatureDependency,
    Task,
    TaskDependency,
)

User = AbstractBaseUser | AnonymousUser


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    """Projects the user is a member of, with task progress counts."""
    if not user.is_authenticated:
        return Project.objects.none()
    return (
        Project.objects.filter(memberships__user=user)
        .select_related("owner")
        .annotate(
            task_count=Count("tasks", distinct=True),
            done_count=Count("tasks", filter=Q(tasks__status=Task.Status.DONE), distinct=True),
        )
        .order_by("name")
    )


def project_for_user(
    *, user: User, slug: str, write: bool = False
) -> tuple[Project, ProjectMembership]:
    """The project with `slug` and the user's membership of it.

    Raises Http404 when the user is not a member (existence is not revealed), and
    PermissionDenied when `write` is asked of a viewer.
    """
    if not user.is_authenticated:
        raise Http404("No such project.")
    membership = (
        ProjectMembership.objects.select_related("project", "project__owner")
        .filter(user=user, project__slug=slug)
        .first()
    )
    if membership is None:
        raise Http404("No such project.")
    if write and not membership.can_write:
        raise PermissionDenied("Viewers cannot change this project.")
    return membership.project, membership


def membership_list(*, project: Project) -> QuerySet[ProjectMembership]:
    return project.memberships.select_related("user").order_by("user__username")


def requirement_list(*, project: Project) -> QuerySet[Requirement]:
    return project.requirements.prefetch_related(
        Prefetch("features", queryset=Feature.objects.only("id", "key"))
    ).order_by("code", "id")


def feature_list(*, project: Project) -> QuerySet[Feature]:
    return project.features.annotate(
        task_count=Count("tasks", distinct=True),
        done_count=Count("tasks", filter=Q(tasks__status=Task.Status.DONE), distinct=True),
    ).order_by("position", "key")


def sub_feature_list(*, project: Project) -> QuerySet[SubFeature]:
    return (
        project.sub_features.select_related("feature")
        .prefetch_related(
            Prefetch("depends_on", queryset=SubFeature.objects.only("id", "key")),
            Prefetch("requirements", queryset=Requirement.objects.only("id", "code")),
        )
        .order_by("feature__position", "feature__key", "position", "key")
    )


def task_list(*, project: Project) -> QuerySet[Task]:
    return (
        project.tasks.select_related("feature", "sub_feature", "assigned_agent")
        .prefetch_related(Prefetch("depends_on", queryset=Task.objects.only("id", "key")))
        .order_by("feature__position", "feature__key", "sub_feature__key", "position", "key")
    )


def task_dependency_list(*, project: Project) -> QuerySet[TaskDependency]:
    return (
        TaskDependency.objects.filter(task__project=project)
        .select_related("task", "depends_on")
        .order_by("task__key", "depends_on__key")
    )


def task_next_ready(*, project: Project) -> Task | None:
    """The task to work on next: pending, every dependency done.

    Ordered by priority (high first), then wave, then key; one query on
    `task_next_ready_idx`.
    """
    unfinished_dependency = TaskDependency.objects.filter(task=OuterRef("pk")).exclude(
        depends_on__status=Task.Status.DONE
    )
    return (
        Task.objects.filter(project=project, status=Task.Status.PENDING)
        .exclude(Exists(unfinished_dependency))
        .select_related("feature", "sub_feature", "assigned_agent")
        .prefetch_related(Prefetch("depends_on", queryset=Task.objects.only("id", "key")))
        .order_by("priority_rank", "wave", "key")
        .first()
    )


def task_dependency_graph(*, project: Project) -> dict[int, set[int]]:
    """Task id -> ids of the tasks it depends on, for the whole project (one query)."""
    graph: dict[int, set[int]] = defaultdict(set)
    for task_id, depends_on_id in TaskDependency.objects.filter(task__project=project).values_list(
        "task_id", "depends_on_id"
    ):
        graph[task_id].add(depends_on_id)
    return graph


def sub_feature_dependency_graph(*, project: Project) -> dict[int, set[int]]:
    graph: dict[int, set[int]] = defaultdict(set)
    for sub_id, depends_on_id in SubFeatureDependency.objects.filter(
        sub_feature__project=project
    ).values_list("sub_feature_id", "depends_on_id"):
        graph[sub_id].add(depends_on_id)
    return graph


@dataclass
class SubFeatureNode:
    sub_feature: SubFeature
    tasks: list[Task] = field(default_factory=list)


@dataclass
class FeatureNode:
    feature: Feature
    sub_features: list[SubFeatureNode] = field(default_factory=list)
    loose_tasks: list[Task] = field(default_factory=list)

    @property
    def task_count(self) -> int:
        return len(self.loose_tasks) + sum(len(s.tasks) for s in self.sub_features)

    @property
    def done_count(self) -> int:
        tasks = self.loose_tasks + [t for s in self.sub_features for t in s.tasks]
        return sum(1 for t in tasks if t.status == Task.Status.DONE)


@dataclass
class PlanTree:
    features: list[FeatureNode]
    unassigned_tasks: list[Task]


def plan_tree(*, project: Project) -> PlanTree:
    """The plan as feature -> sub-feature -> task, built from three queries."""
    features = list(project.features.order_by("position", "key"))
    sub_features = list(project.sub_features.order_by("position", "key"))
    tasks = list(
        project.tasks.select_related("assigned_agent")
        .annotate(dependency_count=Count("dependency_edges"))
        .order_by("position", "key")
    )
    feature_nodes = {f.id: FeatureNode(feature=f) for f in features}
    sub_nodes = {s.id: SubFeatureNode(sub_feature=s) for s in sub_features}
    for sub in sub_features:
        feature_nodes[sub.feature_id].sub_features.append(sub_nodes[sub.id])
    unassigned: list[Task] = []
    for task in tasks:
        if task.sub_feature_id:
            sub_nodes[task.sub_feature_id].tasks.append(task)
        elif task.feature_id:
            feature_nodes[task.feature_id].loose_tasks.append(task)
        else:
            unassigned.append(task)
    return PlanTree(features=list(feature_nodes.values()), unassigned_tasks=unassigned)
