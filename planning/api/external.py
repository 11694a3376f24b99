"""External dependencies over the API: list a project's, and mark one satisfied."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.auth import request_user
from planning import selectors
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema
from planning.models import ExternalDependency
from planning.services.external import external_dependency_set_satisfied


class ExternalDependencySerializer(serializers.ModelSerializer[ExternalDependency]):
    plan = serializers.CharField(source="sub_feature.key", read_only=True)
    satisfied = serializers.BooleanField(read_only=True)
    satisfied_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ExternalDependency
        fields = ["id", "plan", "reference", "satisfied", "satisfied_at", "satisfied_by"]
        read_only_fields = fields


class ExternalDependencySatisfySerializer(serializers.Serializer[Any]):
    satisfied = serializers.BooleanField(
        default=True, help_text="false marks it not satisfied again"
    )


@project_scoped_schema
class ExternalDependencyViewSet(
    ProjectScopedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[ExternalDependency],
):
    """A plan's dependencies on plans outside the project (from GSD `depends_on`). While
    one is not satisfied, its plan's tasks are not ready: `next` skips them and agents
    cannot claim them."""

    queryset_model = ExternalDependency
    serializer_class = ExternalDependencySerializer
    filterset_fields = ["sub_feature__key"]

    def scoped_queryset(self) -> QuerySet[ExternalDependency]:
        return selectors.external_dependency_list(project=self.project)

    @extend_schema(
        request=ExternalDependencySatisfySerializer,
        responses={200: ExternalDependencySerializer},
        description="Mark the dependency satisfied (its plan's tasks may become ready), or "
        'not satisfied again with `{"satisfied": false}`.',
    )
    @action(detail=True, methods=["post"])
    def satisfy(self, request: Request, project_slug: str, pk: str) -> Response:
        body = ExternalDependencySatisfySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dependency = external_dependency_set_satisfied(
            dependency=self.get_object(),
            actor=request_user(request),
            satisfied=body.validated_data["satisfied"],
        )
        return Response(self.get_serializer(dependency).data)
