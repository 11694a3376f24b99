"""FilterSets shared by the API and the HTMX list pages: the fact list page filters
through MemoryFactFilterSet as the memory-facts endpoint does."""

import django_filters

from memory.models import MemoryFact


class MemoryFactFilterSet(django_filters.FilterSet):
    is_stale = django_filters.BooleanFilter()
    subject = django_filters.CharFilter(lookup_expr="icontains", label="Subject contains")
    min_confidence = django_filters.NumberFilter(field_name="confidence", lookup_expr="gte")
    agent = django_filters.NumberFilter(field_name="agent_id")
    run = django_filters.NumberFilter(field_name="run_id")

    class Meta:
        model = MemoryFact
        fields = ["is_stale", "subject", "min_confidence", "agent", "run"]
