"""FilterSets of the agents API's list endpoints.

The tool-call search page uses ToolCallFilterSet too. The other agents pages do not:
their lists (agents, runs, checkpoints) are paginated, not filtered, and the usage page
sums metrics over its own `?days=` window.
"""

import django_filters
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from agents.models import Agent, AgentRun, DecisionLog, Metric, ToolCall


class AgentFilterSet(django_filters.FilterSet):
    type = django_filters.MultipleChoiceFilter(choices=Agent.Type.choices)
    status = django_filters.MultipleChoiceFilter(choices=Agent.Status.choices)

    class Meta:
        model = Agent
        fields = ["type", "status"]


class AgentRunFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=AgentRun.Status.choices)
    kind = django_filters.ChoiceFilter(choices=AgentRun.Kind.choices)
    agent = django_filters.NumberFilter(field_name="agent_id")
    task = django_filters.CharFilter(field_name="task__key", label="Task key")

    class Meta:
        model = AgentRun
        fields = ["status", "kind", "agent", "task"]


class ToolCallFilterSet(django_filters.FilterSet):
    """Filters calls by their started row; `status` looks at the completion."""

    RUNNING = "running"

    tool_name = django_filters.CharFilter()
    agent = django_filters.NumberFilter(field_name="agent_id")
    run = django_filters.NumberFilter(field_name="run_id")
    task = django_filters.CharFilter(field_name="task__key", label="Task key")
    status = django_filters.ChoiceFilter(
        choices=[(RUNNING, "Running"), *ToolCall.Status.choices],
        method="filter_status",
        label="running (no completion yet), succeeded or failed",
    )
    q = django_filters.CharFilter(
        method="filter_text", label="Text in the tool's name, input, output or error"
    )

    class Meta:
        model = ToolCall
        fields = ["tool_name", "agent", "run", "task", "status", "q"]

    def filter_text(
        self, queryset: QuerySet[ToolCall], name: str, value: str
    ) -> QuerySet[ToolCall]:
        text = value.strip()
        if not text:
            return queryset
        # Input and output are JSON: searched as their text, on SQLite and PostgreSQL alike.
        return queryset.alias(
            input_text=Cast("input", TextField()),
            output_text=Cast("completion__output", TextField()),
        ).filter(
            Q(tool_name__icontains=text)
            | Q(input_text__icontains=text)
            | Q(output_text__icontains=text)
            | Q(completion__error__icontains=text)
        )

    def filter_status(
        self, queryset: QuerySet[ToolCall], name: str, value: str
    ) -> QuerySet[ToolCall]:
        if value == self.RUNNING:
            return queryset.filter(completion__isnull=True)
        return queryset.filter(completion__status=value)


class DecisionFilterSet(django_filters.FilterSet):
    agent = django_filters.NumberFilter(field_name="agent_id")
    run = django_filters.NumberFilter(field_name="run_id")
    task = django_filters.CharFilter(field_name="task__key", label="Task key")
    planning_cycle = django_filters.NumberFilter(field_name="planning_cycle_id")

    class Meta:
        model = DecisionLog
        fields = ["agent", "run", "task", "planning_cycle"]


class MetricFilterSet(django_filters.FilterSet):
    type = django_filters.MultipleChoiceFilter(choices=Metric.Type.choices)
    agent = django_filters.NumberFilter(field_name="agent_id")
    run = django_filters.NumberFilter(field_name="run_id")
    task = django_filters.CharFilter(field_name="task__key", label="Task key")
    recorded_after = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    recorded_before = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="lt")

    class Meta:
        model = Metric
        fields = ["type", "agent", "run", "task"]
