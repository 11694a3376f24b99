"""Import jobs over the API: the status of a plan file a worker imports."""

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics

from planning import selectors
from planning.api import serializers as s
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema
from planning.models import ImportJob


@project_scoped_schema
@extend_schema(parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)])
class ImportJobDetailView(ProjectScopedViewMixin, generics.RetrieveAPIView[ImportJob]):
    """A plan import a worker carries out: its status, stage and progress (0-100), then
    its result (as a synchronous import answers) or its errors."""

    queryset_model = ImportJob
    serializer_class = s.ImportJobSerializer

    def scoped_queryset(self) -> QuerySet[ImportJob]:
        return selectors.import_job_list(project=self.project)
