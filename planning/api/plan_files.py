"""A plan as a whole over the API: importing a file, its versions (diff, restore,
export), exporting the working plan, and its analytics."""

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.auth import request_user
from core.api.parsers import too_large
from core.errors import DomainError
from planning import selectors
from planning.api import serializers as s
from planning.api.analytics import PAGE_PARAMETER, analytics_response
from planning.api.scoping import (
    PROJECT_SLUG_PARAMETER,
    ProjectScopedViewMixin,
    project_scoped_schema,
)
from planning.diff import diff_snapshots
from planning.exporters import EXPORT_FORMATS, ExportedFile, export_plan
from planning.importers import ImportSource
from planning.importers.document import PlanDocument, PlanImportError
from planning.models import (
    DevPlanVersion,
)
from planning.services.import_jobs import import_job_create, import_wanted_in_background
from planning.services.imports import plan_import
from planning.services.versions import version_create, version_restore

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
