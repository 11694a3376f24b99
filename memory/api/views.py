from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.serializers import BaseSerializer

from memory import selectors, services
from memory.api import serializers as s
from memory.filters import MemoryFactFilterSet
from memory.models import MemoryFact
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema


@project_scoped_schema
class MemoryFactViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet[MemoryFact]):
    """What the project's agents learned, most confident first."""

    queryset_model = MemoryFact
    serializer_class = s.MemoryFactSerializer
    filterset_class = MemoryFactFilterSet
    ordering_fields = ["confidence", "created_at", "updated_at", "subject"]

    def scoped_queryset(self) -> QuerySet[MemoryFact]:
        return selectors.memory_fact_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[MemoryFact]) -> None:
        serializer.instance = services.memory_fact_create(
            project=self.project, **s.MemoryFactSerializer.flatten(serializer.validated_data)
        )

    def perform_update(self, serializer: BaseSerializer[MemoryFact]) -> None:
        # DRF updates the object it fetched: an update serializer always has it.
        assert serializer.instance is not None
        serializer.instance = services.memory_fact_update(
            fact=serializer.instance,
            data=s.MemoryFactSerializer.flatten(serializer.validated_data),
        )

    def perform_destroy(self, instance: MemoryFact) -> None:
        services.memory_fact_delete(fact=instance)
