from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from core.api.auth import request_user
from core.api.parsers import too_large
from core.errors import DomainError, PermissionDeniedError
from planning import selectors, services
from planning.api import serializers as s
from planning.api.analytics import PAGE_PARAMETER, analytics_response
from planning.api.scoping import (
    PROJECT_SLUG_PARAMETER,
    ProjectScopedViewMixin,
    project_scoped_schema,
)
from planning.diff import diff_snapshots
from planning.exporters import EXPORT_FORMATS, ExportedFile, export_plan
from planning.filters import (
    FeatureFilterSet,
    RequirementFilterSet,
    SubFeatureFilterSet,
    TaskFilterSet,
)
from planning.importers import ImportSource
from planning.importers.document import PlanDocument, PlanImportError
from planning.models import (
    ConversationMessage,
    ConversationSession,
    DevPlanVersion,
    Feature,
    Project,
    ProjectMembership,
    Requirement,
    SubFeature,
    Task,
    TaskDependency,
)
from planning.services import plan_edits
from planning.services.chat import (
    chat_edits_apply,
    chat_edits_discard,
    chat_session_create,
)
from planning.services.import_jobs import import_job_create, import_wanted_in_background
from planning.services.imports import plan_import
from planning.services.items import TaskPlacement
from planning.services.versions import version_create, version_restore


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

EXPORT_RESPONSES = {
    (200, "text/markdown"): OpenApiTypes.STR,
    (200, "application/json"): OpenApiTypes.OBJECT,
    (200, "application/zip"): OpenApiTypes.BINARY,
}
FMT_PARAMETER = OpenApiParameter(
    "fmt",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    enum=list(EXPORT_FORMATS),
    description="markdown, json (the snapshot), gsd (a .planning zip) or taskmaster (tasks.json)",
)
NUMBER_PARAMETER = OpenApiParameter("number", OpenApiTypes.INT, OpenApiParameter.PATH)


def _download(exported: ExportedFile) -> HttpResponse:
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return response


def _export(document: PlanDocument, *, fmt: str, title: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise DomainError(f"Unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}.")
    return _download(export_plan(document, fmt=fmt, title=title))


class ProjectScopedAPIView(ProjectScopedViewMixin, APIView):
    queryset_model = DevPlanVersion

    def scoped_queryset(self) -> QuerySet[DevPlanVersion]:
        return selectors.version_list(project=self.project)


UPLOAD_FORM_OVERHEAD = 64 * 1024


def _content_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _import_error(detail: object, code: int, *, file: str | None = None) -> Response:
    return Response({"detail": str(detail), "file": file, "line": None}, status=code)


@project_scoped_schema
class PlanImportView(ProjectScopedAPIView):
    """Import a plan file into the project: all or nothing, matched by source identity.

    A file from a source the plan did not come from is previewed (409) until `mode`
    says whether it replaces the plan or is merged into it. A large file (or `?async=1`)
    is imported by a worker: 202 with the job, whose `url` says how far it got."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request=s.PlanImportSerializer,
        parameters=[
            OpenApiParameter(
                "async",
                OpenApiTypes.BOOL,
                description="Import on a worker whatever the file's size: answers 202 with "
                "the job to poll. Files over IMPORT_ASYNC_BYTES always are.",
            )
        ],
        responses={
            201: s.PlanImportResultSerializer,
            202: s.ImportJobSerializer,
            400: s.ImportErrorSerializer,
            409: s.PlanImportChoiceSerializer,
            413: s.ImportErrorSerializer,
        },
    )
    def post(self, request: Request, project_slug: str) -> Response:
        limit = settings.IMPORT_MAX_BYTES
        # Refused before the body is read: the form's own fields add a few bytes at most.
        if _content_length(request) > limit + UPLOAD_FORM_OVERHEAD:
            return _import_error(
                too_large(limit=limit, what="A plan file", setting="IMPORT_MAX_BYTES"),
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        serializer = s.PlanImportSerializer(data=request.data)
        if not serializer.is_valid():
            field, messages = next(iter(serializer.errors.items()))
            return _import_error(f"{field}: {' '.join(messages)}", status.HTTP_400_BAD_REQUEST)
        upload = serializer.validated_data["file"]
        # The multipart parser spooled it to disk: checked before it is read into memory.
        if (upload.size or 0) > limit:
            return _import_error(
                too_large(limit=limit, what="A plan file", setting="IMPORT_MAX_BYTES"),
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                file=upload.name,
            )
        asked = request.query_params.get("async", "").lower() in ("1", "true", "yes")
        if import_wanted_in_background(size=upload.size or 0, asked=asked):
            job = import_job_create(
                project=self.project,
                file_name=upload.name,
                data=upload.read(),
                fmt=serializer.validated_data["format"],
                mode=serializer.validated_data["mode"],
                actor=request_user(request),
            )
            answer = s.ImportJobSerializer(job, context={"request": request}).data
            return Response(
                answer, status=status.HTTP_202_ACCEPTED, headers={"Location": answer["url"]}
            )
        try:
            outcome = plan_import(
                project=self.project,
                source=ImportSource.from_bytes(upload.name, upload.read()),
                fmt=serializer.validated_data["format"],
                actor=request_user(request),
                mode=serializer.validated_data["mode"],
            )
        except PlanImportError as exc:
            origin = exc.origin
            return Response(
                {
                    "detail": str(exc),
                    "file": origin.file if origin else None,
                    "line": origin.line if origin else None,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        if outcome.preview is not None:
            return Response(
                {
                    "detail": "The plan came from another source: nothing was imported. "
                    "Send the file again with mode=replace or mode=merge.",
                    "preview": outcome.preview.as_dict(page=serializer.validated_data["page"]),
                },
                status=status.HTTP_409_CONFLICT,
            )
        imported = outcome.as_dict()
        del imported["preview"]
        return Response(imported, status=status.HTTP_201_CREATED)


@project_scoped_schema
class VersionListView(ProjectScopedViewMixin, generics.ListAPIView[DevPlanVersion]):
    """Plan versions, newest first. POST saves the working plan as a new version."""

    queryset_model = DevPlanVersion
    serializer_class = s.DevPlanVersionSerializer
    filter_backends = []

    def scoped_queryset(self) -> QuerySet[DevPlanVersion]:
        return selectors.version_list(project=self.project)

    @extend_schema(request=s.VersionCreateSerializer, responses={201: s.DevPlanVersionSerializer})
    def post(self, request: Request, project_slug: str) -> Response:
        serializer = s.VersionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = version_create(
            project=self.project,
            summary=serializer.validated_data["summary"] or "Saved by hand",
            actor=request_user(request),
            only_if_changed=False,
        )
        return Response(s.DevPlanVersionSerializer(version).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[PROJECT_SLUG_PARAMETER, NUMBER_PARAMETER])
class VersionDetailView(ProjectScopedAPIView):
    @extend_schema(responses=s.DevPlanVersionDetailSerializer)
    def get(self, request: Request, project_slug: str, number: int) -> Response:
        version = selectors.version_get(project=self.project, number=number)
        return Response(s.DevPlanVersionDetailSerializer(version).data)


@extend_schema(parameters=[PROJECT_SLUG_PARAMETER, NUMBER_PARAMETER])
class VersionDiffView(ProjectScopedAPIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "against",
                OpenApiTypes.STR,
                description="Another version number, or `working` for the current plan "
                "(default: the previous version).",
            )
        ],
        responses={200: OpenApiTypes.OBJECT},
        description="Added, removed and changed features, sub-features, tasks and "
        "requirements (field by field), and dependency edges, from this version to `against`.",
    )
    def get(self, request: Request, project_slug: str, number: int) -> Response:
        version = selectors.version_get(project=self.project, number=number)
        against = request.query_params.get("against", "")
        if against == "working":
            after = selectors.plan_document(project=self.project).to_snapshot()
        elif against:
            if not against.isdigit():
                raise DomainError(
                    "`against` must be a version number or `working`.", field="against"
                )
            after = selectors.version_get(project=self.project, number=int(against)).snapshot
        else:
            before = (
                selectors.version_get(project=self.project, number=number - 1).snapshot
                if number > 1
                else {}
            )
            return Response(diff_snapshots(before, version.snapshot).as_dict())
        return Response(diff_snapshots(version.snapshot, after).as_dict())


@extend_schema(parameters=[PROJECT_SLUG_PARAMETER, NUMBER_PARAMETER])
class VersionRestoreView(ProjectScopedAPIView):
    @extend_schema(request=None, responses={201: s.RestoreResultSerializer})
    def post(self, request: Request, project_slug: str, number: int) -> Response:
        version = selectors.version_get(project=self.project, number=number)
        result, new_version = version_restore(version=version, actor=request_user(request))
        return Response(
            {
                "summary": result.summary(),
                "version": s.DevPlanVersionSerializer(new_version).data,
                "reset": result.reset,
            },
            status=status.HTTP_201_CREATED,
        )


@extend_schema(parameters=[PROJECT_SLUG_PARAMETER, NUMBER_PARAMETER, FMT_PARAMETER])
class VersionExportView(ProjectScopedAPIView):
    @extend_schema(responses=EXPORT_RESPONSES)
    def get(self, request: Request, project_slug: str, number: int, fmt: str) -> HttpResponse:
        version = selectors.version_get(project=self.project, number=number)
        document = PlanDocument.from_snapshot(version.snapshot)
        return _export(document, fmt=fmt, title=f"{self.project.name} v{version.number}")


@extend_schema(parameters=[PROJECT_SLUG_PARAMETER, FMT_PARAMETER])
class PlanExportView(ProjectScopedAPIView):
    """Export the working plan (with task statuses, where the format has them)."""

    @extend_schema(responses=EXPORT_RESPONSES)
    def get(self, request: Request, project_slug: str, fmt: str) -> HttpResponse:
        document = selectors.plan_document(project=self.project)
        return _export(document, fmt=fmt, title=self.project.name)


@project_scoped_schema
class PlanAnalyticsView(ProjectScopedAPIView):
    """Computed waves (with warnings where declared waves disagree), the critical path by
    estimated minutes, ready/blocked/done task sets, progress per feature and cycle checks."""

    @extend_schema(responses=s.PlanAnalyticsSerializer, parameters=[PAGE_PARAMETER])
    def get(self, request: Request, project_slug: str) -> Response:
        return analytics_response(request, self.project)


# Chat ----------------------------------------------------------------------------------------


@project_scoped_schema
class ChatSessionViewSet(
    ProjectScopedViewMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[ConversationSession],
):
    """Planning chat sessions. Post a message to `chats/{id}/messages/` to get the
    assistant's reply, which may propose edits; apply or discard them."""

    queryset_model = ConversationSession
    filter_backends = []

    def get_serializer_class(self) -> type[BaseSerializer[ConversationSession]]:
        if self.action == "retrieve":
            return s.ConversationSessionDetailSerializer
        return s.ConversationSessionSerializer

    def scoped_queryset(self) -> QuerySet[ConversationSession]:
        return selectors.chat_session_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[ConversationSession]) -> None:
        serializer.instance = chat_session_create(
            project=self.project,
            actor=request_user(self.request),
            title=serializer.validated_data.get("title", ""),
        )

    def _message(self, message_id: str) -> ConversationMessage:
        session = self.get_object()
        message = session.messages.filter(pk=message_id).first() if message_id.isdigit() else None
        if message is None:
            raise Http404("No such message in this session.")
        return message

    @extend_schema(
        request=None,
        responses={201: s.DevPlanVersionSerializer, 400: s.ImportErrorSerializer},
        parameters=[OpenApiParameter("message_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["post"], url_path=r"messages/(?P<message_id>\d+)/apply")
    def apply(self, request: Request, project_slug: str, pk: str, message_id: str) -> Response:
        try:
            version = chat_edits_apply(
                message=self._message(message_id), actor=request_user(request)
            )
        except PlanImportError as exc:
            return Response(
                {"detail": str(exc), "file": None, "line": None}, status=status.HTTP_400_BAD_REQUEST
            )
        return Response(s.DevPlanVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={200: s.ConversationMessageSerializer},
        parameters=[OpenApiParameter("message_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["post"], url_path=r"messages/(?P<message_id>\d+)/discard")
    def discard(self, request: Request, project_slug: str, pk: str, message_id: str) -> Response:
        message = chat_edits_discard(message=self._message(message_id))
        return Response(s.ConversationMessageSerializer(message).data)
