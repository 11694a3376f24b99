"""FilterSets of the planning API's list endpoints.

The planning pages do not use them: none of their lists is filtered by query parameters.
"""

import django_filters
from django.db.models import Q, QuerySet

from planning.models import Feature, Requirement, SubFeature, Task
from planning.selectors import tasks_ready_only


class TaskFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Task.Status.choices)
    type = django_filters.MultipleChoiceFilter(choices=Task.Type.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Task.Priority.choices)
    size = django_filters.MultipleChoiceFilter(choices=Task.Size.choices)
    feature = django_filters.CharFilter(field_name="feature__key", label="Feature key")
    sub_feature = django_filters.CharFilter(field_name="sub_feature__key", label="Sub-feature key")
    wave = django_filters.NumberFilter()
    assigned_agent = django_filters.NumberFilter(field_name="assigned_agent_id")
    q = django_filters.CharFilter(method="search", label="Search in key and name")
    ready = django_filters.BooleanFilter(
        method="ready_only",
        label="Only ready tasks (true): pending, with every dependency and plan dependency done",
    )

    class Meta:
        model = Task
        fields = ["status", "type", "priority", "size", "feature", "sub_feature", "wave"]

    def search(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return queryset.filter(Q(key__icontains=value) | Q(name__icontains=value))

    def ready_only(self, queryset: QuerySet[Task], name: str, value: bool | None) -> QuerySet[Task]:
        # ready=false lists every task: "not ready" is not a set anyone has asked for.
        return tasks_ready_only(queryset) if value else queryset


class FeatureFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Feature.Status.choices)

    class Meta:
        model = Feature
        fields = ["status", "priority"]


class SubFeatureFilterSet(django_filters.FilterSet):
    feature = django_filters.CharFilter(field_name="feature__key", label="Feature key")
    status = django_filters.MultipleChoiceFilter(choices=SubFeature.Status.choices)

    class Meta:
        model = SubFeature
        fields = ["feature", "status", "wave", "autonomous"]


class RequirementFilterSet(django_filters.FilterSet):
    class Meta:
        model = Requirement
        fields = ["category", "priority", "validated"]
