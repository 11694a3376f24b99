"""Project scoping shared by every project-nested API endpoint."""

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from planning.models import Project, ProjectMembership
from planning.selectors import project_for_user

PROJECT_SLUG_PARAMETER = OpenApiParameter(
    "project_slug",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="Slug of a project the caller is a member of.",
)

project_scoped_schema = extend_schema(parameters=[PROJECT_SLUG_PARAMETER])


class ProjectScopedViewMixin:
    """Resolves `project_slug` to a project the caller belongs to.

    Non-members get 404 (the project's existence is not revealed); viewers get 403 on
    unsafe methods. Subclasses build querysets from `self.project`.
    """

    project: Project
    membership: ProjectMembership
    queryset_model: type[Model]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A mixin: super() is the view class it is mixed into, unknown here.
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self.project, self.membership = project_for_user(
            user=request.user,
            slug=kwargs["project_slug"],
            write=request.method not in SAFE_METHODS,
        )

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset_model._default_manager.none()
        return self.scoped_queryset()

    def scoped_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_serializer_context(self) -> dict[str, Any]:
        context: dict[str, Any] = super().get_serializer_context()  # type: ignore[misc]
        context["project"] = getattr(self, "project", None)
        return context


class ProjectScopedRelatedFieldsMixin:
    """Limits the choices of the named related fields to rows of the request's project.

    `scoped_related_fields` maps a field name to the lookup that reaches the project,
    e.g. {"feature": "project", "run": "project"}.
    """

    scoped_related_fields: dict[str, str] = {}

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # A mixin: super() and `context` are the serializer's it is mixed into.
        fields: dict[str, serializers.Field[Any, Any, Any, Any]] = super().get_fields()  # type: ignore[misc]
        project = self.context.get("project")  # type: ignore[attr-defined]
        for name, lookup in self.scoped_related_fields.items():
            field = fields.get(name)
            if field is None or field.read_only:
                continue
            relation = (
                field.child_relation if isinstance(field, serializers.ManyRelatedField) else field
            )
            if not isinstance(relation, serializers.RelatedField) or relation.queryset is None:
                raise ImproperlyConfigured(f"{name} is not a related field with a queryset.")
            relation.queryset = (
                relation.queryset.filter(**{lookup: project})
                if project is not None
                else relation.queryset.none()
            )
        return fields
