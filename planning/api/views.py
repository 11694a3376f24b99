"""The plan's rows over the API: projects, members, requirements, features, sub-features,
tasks and their dependencies."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from core.api.auth import request_user
from core.errors import PermissionDeniedError
from planning import selectors, services
from planning.api import serializers as s
from planning.api.scoping import (
    ProjectScopedViewMixin,
    project_scoped_schema,
)
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
from planning.services import plan_edits
from planning.services.task_items import TaskPlacement


class ProjectViewSet(viewsets.ModelViewSet[Project]):
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

    def perform_create(self, serializer: BaseSerializer[Project]) -> None:
        serializer.instance = services.project_create(
            owner=request_user(self.request), **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Project]) -> None:
        # DRF updates the object it fetched: an update serializer always has it.
        assert serializer.instance is not None
        serializer.instance = services.project_update(
            project=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Project) -> None:
        services.project_delete(project=instance)


@project_scoped_schema
class MembershipViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet[ProjectMembership]):
    """Members of a project. Owners add, re-role and remove members."""

    queryset_model = ProjectMembership
    lookup_field = "user__username"
    lookup_url_kwarg = "username"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    pagination_class = None

    def get_serializer_class(self) -> type[BaseSerializer[ProjectMembership]]:
        if self.action == "partial_update":
            return s.MembershipRoleSerializer
        return s.MembershipSerializer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method not in ("GET", "HEAD", "OPTIONS") and self.membership.role != "owner":
            raise PermissionDeniedError("Only an owner can manage members.")

    def scoped_queryset(self) -> QuerySet[ProjectMembership]:
        return selectors.membership_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[ProjectMembership]) -> None:
        data = serializer.validated_data
        serializer.instance = services.membership_set(
            project=self.project,
            user=data["user"],
            role=data.get("role"),
        )

    def perform_update(self, serializer: BaseSerializer[ProjectMembership]) -> None:
        # DRF updates the object it fetched: an update serializer always has it.
        assert serializer.instance is not None
        serializer.instance = services.membership_set(
            project=self.project,
            user=serializer.instance.user,
            role=serializer.validated_data.get("role"),
        )

    def perform_destroy(self, instance: ProjectMembership) -> None:
        services.membership_remove(membership=instance)


@project_scoped_schema
class RequirementViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet[Requirement]):
    """Requirements, in the project's order (`position`) unless `ordering` says otherwise."""

    queryset_model = Requirement
    serializer_class = s.RequirementSerializer
    filterset_class = RequirementFilterSet
    ordering_fields = ["position", "code", "priority", "created_at"]

    def scoped_queryset(self) -> QuerySet[Requirement]:
        return selectors.requirement_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[Requirement]) -> None:
        serializer.instance = services.requirement_create(
            project=self.project, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Requirement]) -> None:
        # DRF updates the object it fetched: an update serializer always has it.
        assert serializer.instance is not None
        data = dict(serializer.validated_data)
        features = data.pop("features", None)
        serializer.instance = services.requirement_update(
            requirement=serializer.instance, data=data, features=features
        )

    def perform_destroy(self, instance: Requirement) -> None:
        services.requirement_delete(requirement=instance)

    @extend_schema(
        request=s.RequirementMoveSerializer,
        responses={200: s.RequirementSerializer},
        description="Move the requirement to `index` in the project's order, or `offset` "
        "places up (-) or down (+). One row is written unless its new neighbours leave no "
        "room between their positions; then the project's requirements are renumbered.",
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def move(self, request: Request, project_slug: str, pk: str) -> Response:
        requirement = self.get_object()
        where = s.RequirementMoveSerializer(data=request.data)
        where.is_valid(raise_exception=True)
        plan_edits.requirement_reorder(
            requirement=requirement,
            index=where.validated_data.get("index"),
            offset=where.validated_data.get("offset") or 0,
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=requirement.pk)).data)


@project_scoped_schema
class FeatureViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet[Feature]):
    """Features (GSD phases), addressed by key."""

    queryset_model = Feature
    serializer_class = s.FeatureSerializer
    lookup_field = "key"
    lookup_value_regex = r"[^/]+"
    filterset_class = FeatureFilterSet
    ordering_fields = ["position", "key", "name", "created_at"]

    def scoped_queryset(self) -> QuerySet[Feature]:
        return selectors.feature_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[Feature]) -> None:
        feature = services.feature_create(project=self.project, **serializer.validated_data)
        # Read back through the selector: the answer carries the task counts.
        serializer.instance = self.get_queryset().get(pk=feature.pk)

    def perform_update(self, serializer: BaseSerializer[Feature]) -> None:
        # DRF updates the object it fetched: an update serializer always has it.
        assert serializer.instance is not None
        serializer.instance = services.feature_update(
            feature=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Feature) -> None:
        services.feature_delete(feature=instance)


@project_scoped_schema
class SubFeatureViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet[SubFeature]):
    """Sub-features (GSD plans), addressed by key such as `01-08`."""

    queryset_model = SubFeature
    serializer_class = s.SubFeatureSerializer
    lookup_field = "key"
    lookup_value_regex = r"[^/]+"
    filterset_class = SubFeatureFilterSet
    ordering_fields = ["position", "key", "wave", "created_at"]

    def scoped_queryset(self) -> QuerySet[SubFeature]:
        return selectors.sub_feature_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[SubFeature]) -> None:
        serializer.instance = services.sub_feature_create(**serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer[SubFeature]) -> None:
        # DRF updates the object it fetched: an update serializer always has it.
        assert serializer.instance is not None
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
class TaskViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet[Task]):
    """Tasks, addressed by key such as `01-08-T2`. Dependencies live under task-dependencies."""

    queryset_model = Task
    serializer_class = s.TaskSerializer
    lookup_field = "key"
    lookup_value_regex = r"[^/]+"
    filterset_class = TaskFilterSet
    ordering_fields = [
        "key",
        "sort_key",
        "priority_rank",
        "wave",
        "status",
        "position",
        "updated_at",
    ]

    def scoped_queryset(self) -> QuerySet[Task]:
        return selectors.task_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[Task]) -> None:
        serializer.instance = services.task_create(
            project=self.project, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Task]) -> None:
        # DRF updates the object it fetched: an update serializer always has it.
        assert serializer.instance is not None
        data = dict(serializer.validated_data)
        placement: TaskPlacement = {}
        if "feature" in data:
            placement["feature"] = data.pop("feature")
        if "sub_feature" in data:
            placement["sub_feature"] = data.pop("sub_feature")
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
    viewsets.GenericViewSet[TaskDependency],
):
    """Dependency edges: `task` waits for `depends_on`. An edge that closes a cycle is a 400."""

    queryset_model = TaskDependency
    serializer_class = s.TaskDependencySerializer
    filterset_fields = ["task__key", "depends_on__key"]

    def scoped_queryset(self) -> QuerySet[TaskDependency]:
        return selectors.task_dependency_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[TaskDependency]) -> None:
        serializer.instance = services.task_add_dependency(**serializer.validated_data)

    def perform_destroy(self, instance: TaskDependency) -> None:
        services.task_remove_dependency(edge=instance)


# Plan import, versions and export ---------------------------------------------------------
