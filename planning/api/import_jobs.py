"""Import jobs over the API: the status of a plan file a worker imports, and the choice
a previewed file from another source waits for."""

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from planning import selectors
from planning.api import serializers as s
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema
from planning.models import ImportJob
from planning.services.import_jobs import ImportJobStateError, import_job_choose

JOB_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


@project_scoped_schema
@extend_schema(
    parameters=[
        JOB_ID,
        OpenApiParameter(
            "page", OpenApiTypes.INT, description="The preview's page of tasks, from 1."
        ),
    ]
)
class ImportJobDetailView(ProjectScopedViewMixin, generics.RetrieveAPIView[ImportJob]):
    """A plan import a worker carries out: its status, stage and progress (0-100), then
    its result (as a synchronous import answers) or its errors. A file from another
    source waits at awaiting_choice with its preview."""

    queryset_model = ImportJob
    serializer_class = s.ImportJobSerializer

    def scoped_queryset(self) -> QuerySet[ImportJob]:
        return selectors.import_job_list(project=self.project)


@project_scoped_schema
@extend_schema(
    parameters=[JOB_ID],
    request=s.ImportJobChoiceSerializer,
    responses={
        202: s.ImportJobSerializer,
        400: s.ImportErrorSerializer,
        409: s.ImportErrorSerializer,
    },
)
class ImportJobChoiceView(ProjectScopedViewMixin, generics.GenericAPIView[ImportJob]):
    """Answer a previewed import: replace the plan with the file or merge it (the job is
    queued again: poll it), or cancel it. 409 when the job is not waiting for a choice."""

    queryset_model = ImportJob
    serializer_class = s.ImportJobChoiceSerializer

    def scoped_queryset(self) -> QuerySet[ImportJob]:
        return selectors.import_job_list(project=self.project)

    def post(self, request: Request, project_slug: str, pk: int) -> Response:
        job = self.get_object()
        choice = s.ImportJobChoiceSerializer(data=request.data)
        if not choice.is_valid():
            field, messages = next(iter(choice.errors.items()))
            return Response(
                {"detail": f"{field}: {' '.join(messages)}"}, status=status.HTTP_400_BAD_REQUEST
            )
        try:
            job = import_job_choose(job=job, mode=choice.validated_data["mode"])
        except ImportJobStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        answer = s.ImportJobSerializer(job, context={"request": request}).data
        return Response(answer, status=status.HTTP_202_ACCEPTED)
