from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from core.errors import PermissionDeniedError
from planning import selectors, services
from planning.api import serializers as s
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema
from planning.filters import (
    FeatureFilterSet,
    RequirementFilterSet,
    SubFeatureFilterSet,
    TaskFilterSet,
)
from planning.models import (
    Feature,
    Project,
    ProjectMembership,
    Requirement,
    SubFeature,
    Task,
    TaskDependency,
)


class ProjectViewSet(viewsets.ModelViewSet):
    """Projects the caller belongs to. Anyone signed in may create one and becomes its owner."""

    serializer_class = s.ProjectSerializer
    lookup_field = "slug"
    filterset_fields = ["status", "mode"]
    ordering_fields = ["name", "created_at", "updated_at"]

    def get_queryset(self) -> QuerySet[Project]:
        return selectors.project_list_for_user(user=self.request.user)

    def get_object(self) -> Project:
        project, membership = selectors.project_for_user(
            user=self.request.user,
            slug=self.kwargs["slug"],
            write=self.request.method not in ("GET", "HEAD", "OPTIONS"),
        )
        if self.request.method == "DELETE" and membership.role != ProjectMembership.Role.OWNER:
            raise PermissionDeniedError("Only an owner can delete a project.")
        return project

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.project_create(
            owner=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.project_update(
            project=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Project) -> None:
        services.project_delete(project=instance)


@project_scoped_schema
class MembershipViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet):
    """Members of a project. Owners add, re-role and remove members."""

    queryset_model = ProjectMembership
    lookup_field = "user__username"
    lookup_url_kwarg = "username"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    pagination_class = None

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action == "partial_update":
            return s.MembershipRoleSerializer
        return s.MembershipSerializer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method not in ("GET", "HEAD", "OPTIONS") and self.membership.role != "owner":
            raise PermissionDeniedError("Only an owner can manage members.")

    def scoped_queryset(self) -> QuerySet[ProjectMembership]:
        return selectors.membership_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = services.membership_set(
            project=self.project, user=data["user"], role=data["role"]
        )

    def perform_update(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.membership_set(
            project=self.project,
            user=serializer.instance.user,
            role=serializer.validated_data["role"],
        )

    def perform_destroy(self, instance: ProjectMembership) -> None:
        services.membership_remove(membership=instance)


@project_scoped_schema
class RequirementViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet):
    queryset_model = Requirement
    serializer_class = s.RequirementSerializer
    filterset_class = RequirementFilterSet
    ordering_fields = ["code", "priority", "created_at"]

    def scoped_queryset(self) -> QuerySet[Requirement]:
        return selectors.requirement_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.requirement_create(
            project=self.project, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        features = data.pop("features", None)
        serializer.instance = services.requirement_update(
            requirement=serializer.instance, data=data, features=features
        )

    def perform_destroy(self, instance: Requirement) -> None:
        services.requirement_delete(requirement=instance)


@project_scoped_schema
class FeatureViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet):
    """Features (GSD phases), addressed by key."""

    queryset_model = Feature
    serializer_class = s.FeatureSerializer
    lookup_field = "key"
    lookup_value_regex = r"[^/]+"
    filterset_class = FeatureFilterSet
    ordering_fields = ["position", "key", "name", "created_at"]

    def scoped_queryset(self) -> QuerySet[Feature]:
        return selectors.feature_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.feature_create(
            project=self.project, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.feature_update(
            feature=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Feature) -> None:
        services.feature_delete(feature=instance)


@project_scoped_schema
class SubFeatureViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet):
    """Sub-features (GSD plans), addressed by key such as `01-08`."""

    queryset_model = SubFeature
    serializer_class = s.SubFeatureSerializer
    lookup_field = "key"
    lookup_value_regex = r"[^/]+"
    filterset_class = SubFeatureFilterSet
    ordering_fields = ["position", "key", "wave", "created_at"]

    def scoped_queryset(self) -> QuerySet[SubFeature]:
        return selectors.sub_feature_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.sub_feature_create(**serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.sub_feature_update(
            sub_feature=serializer.instance,
            feature=data.pop("feature", None),
            depends_on=data.pop("depends_on", None),
            requirements=data.pop("requirements", None),
            data=data,
        )

    def perform_destroy(self, instance: SubFeature) -> None:
        services.sub_feature_delete(sub_feature=instance)


@project_scoped_schema
class TaskViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet):
    """Tasks, addressed by key such as `01-08-T2`. Dependencies live under task-dependencies."""

    queryset_model = Task
    serializer_class = s.TaskSerializer
    lookup_field = "key"
    lookup_value_regex = r"[^/]+"
    filterset_class = TaskFilterSet
    ordering_fields = ["key", "priority_rank", "wave", "status", "position", "updated_at"]

    def scoped_queryset(self) -> QuerySet[Task]:
        return selectors.task_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.task_create(
            project=self.project, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        placement = {k: data.pop(k) for k in ("feature", "sub_feature") if k in data}
        serializer.instance = services.task_update(
            task=serializer.instance, data=data, placement=placement or None
        )

    def perform_destroy(self, instance: Task) -> None:
        services.task_delete(task=instance)

    @extend_schema(
        responses={200: s.TaskSerializer, 204: None},
        description="The next ready task: pending, with every dependency done, ordered by "
        "priority (high first), then wave, then key. 204 when nothing is ready.",
    )
    @action(detail=False, methods=["get"], url_path="next", filterset_class=None)
    def next(self, request: Request, project_slug: str) -> Response:
        task = selectors.task_next_ready(project=self.project)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.get_serializer(task).data)


@project_scoped_schema
class TaskDependencyViewSet(
    ProjectScopedViewMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Dependency edges: `task` waits for `depends_on`. An edge that closes a cycle is a 400."""

    queryset_model = TaskDependency
    serializer_class = s.TaskDependencySerializer
    filterset_fields = ["task__key", "depends_on__key"]

    def scoped_queryset(self) -> QuerySet[TaskDependency]:
        return selectors.task_dependency_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.task_add_dependency(**serializer.validated_data)

    def perform_destroy(self, instance: TaskDependency) -> None:
        services.task_remove_dependency(edge=instance)
