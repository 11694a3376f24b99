"""A plan's rows: features, sub-features, tasks and their dependencies."""

from django.db.models import (
    Count,
    Prefetch,
    Q,
    QuerySet,
)

from planning.models import (
    ExternalDependency,
    Feature,
    Project,
    Requirement,
    SubFeature,
    Task,
    TaskDependency,
)


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
        project.tasks.select_related("feature", "sub_feature", "assigned_agent", "parent")
        .prefetch_related(Prefetch("depends_on", queryset=Task.objects.only("id", "key")))
        .order_by("feature__position", "feature__key", "sub_feature__key", "position", "sort_key")
    )


def external_dependency_list(*, project: Project) -> QuerySet[ExternalDependency]:
    """The project's dependencies on plans outside it, by plan and reference."""
    return (
        ExternalDependency.objects.filter(sub_feature__project=project)
        .select_related("sub_feature", "satisfied_by")
        .order_by("sub_feature__key", "reference")
    )


def task_dependency_list(*, project: Project) -> QuerySet[TaskDependency]:
    return (
        TaskDependency.objects.filter(task__project=project)
        .select_related("task", "depends_on")
        .order_by("task__sort_key", "depends_on__sort_key")
    )
