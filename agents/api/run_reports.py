"""What an external agent reports about its run, with `Authorization: Agent <key>`: tool
calls, decisions and metrics, one or a batch at a time, all or nothing."""

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from agents import services
from agents.api.external import AgentKeyView
from agents.models import Metric, ToolCall
from agents.services.external_reports import MAX_REPORT_ITEMS
from agents.services.logs import ReportItemError


class ToolCallReportSerializer(serializers.Serializer[Any]):
    call_id = serializers.CharField(
        max_length=100, help_text="Your id for the call; a later report with it completes it."
    )
    step = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    tool_name = serializers.CharField(
        max_length=100, required=False, help_text="Required when the call is new."
    )
    input = serializers.JSONField(required=False)
    status = serializers.ChoiceField(
        choices=ToolCall.Status.choices,
        required=False,
        help_text="How the call ended; leave it out to report only the start.",
    )
    output = serializers.JSONField(required=False, allow_null=True)
    error = serializers.CharField(required=False, allow_blank=True)
    duration_ms = serializers.IntegerField(min_value=0, required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "status" not in attrs:
            ending = sorted({"output", "error", "duration_ms"} & attrs.keys())
            if ending:
                raise ValidationError({ending[0]: ["Only a report with a status ends a call."]})
        return attrs


class DecisionReportSerializer(serializers.Serializer[Any]):
    decision = serializers.CharField()
    reasoning = serializers.JSONField(required=False)


class MetricReportSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=Metric.Type.choices)
    value = serializers.FloatField()
    metadata = serializers.JSONField(required=False)
    recorded_at = serializers.DateTimeField(required=False)


class ReportedToolCallSerializer(serializers.Serializer[Any]):
    call_id = serializers.CharField()
    step = serializers.IntegerField(allow_null=True)
    id = serializers.IntegerField(help_text="The call's started row.")
    completion_id = serializers.IntegerField(allow_null=True)


class ToolCallReportResultSerializer(serializers.Serializer[Any]):
    written = serializers.IntegerField(help_text="Rows this request inserted; 0 for a replay.")
    tool_calls = ReportedToolCallSerializer(many=True)


class ReportResultSerializer(serializers.Serializer[Any]):
    written = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField())


def _one_or_many(
    serializer: type[serializers.Serializer[Any]], name: str
) -> PolymorphicProxySerializer:
    return PolymorphicProxySerializer(
        component_name=name,
        serializers=[serializer, serializer(many=True)],
        resource_type_field_name=None,
        many=False,
    )


def _validated_reports(
    serializer_class: type[serializers.Serializer[Any]], data: Any
) -> list[dict[str, Any]]:
    """A single report or a list of them, validated; any bad item rejects them all."""
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ValidationError({"detail": "Send one report, or a non-empty list of them."})
    if len(items) > MAX_REPORT_ITEMS:
        raise ValidationError({"detail": f"Send at most {MAX_REPORT_ITEMS} reports at a time."})
    serializer = serializer_class(data=items, many=True)
    if not serializer.is_valid():
        errors = serializer.errors
        # DRF lists one entry per item, or (from 3.16) maps only the bad items' indexes.
        pairs = errors.items() if isinstance(errors, dict) else enumerate(errors)
        raise _rejected({int(index): error for index, error in pairs if error})
    validated: list[dict[str, Any]] = serializer.validated_data
    return validated


def _rejected(bad: dict[int, Any]) -> ValidationError:
    return ValidationError(
        {
            "detail": f"Item {min(bad)} is invalid; nothing was written.",
            "items": {str(index): errors for index, errors in bad.items()},
        }
    )


class RunToolCallsView(AgentKeyView):
    run_key_methods = frozenset({"POST"})

    @extend_schema(
        request=_one_or_many(ToolCallReportSerializer, "ToolCallReportOneOrMany"),
        responses={201: ToolCallReportResultSerializer},
        description="Report tool calls, one or a list (up to 1,000). A report without a "
        "status logs the start; with a status, the completion too. A later report of the "
        "same call_id with a status completes it. Already logged rows are not logged "
        "again. One bad item rejects the batch (400, with its index).",
    )
    def post(self, request: Request, run_id: int, **kwargs: Any) -> Response:
        run = self.get_run(run_id)
        reports = _validated_reports(ToolCallReportSerializer, request.data)
        try:
            calls = services.tool_calls_report(run=run, agent=self.agent, reports=reports)
        except ReportItemError as exc:
            raise _rejected({exc.index: {exc.field or "detail": [exc.item_message]}}) from None
        return Response(
            {
                "written": sum(call.rows_written for call in calls),
                "tool_calls": [
                    {
                        "call_id": call.started.call_id,
                        "step": call.started.step,
                        "id": call.started.pk,
                        "completion_id": call.completion.pk if call.completion else None,
                    }
                    for call in calls
                ],
            },
            status=status.HTTP_201_CREATED,
        )


class RunDecisionsView(AgentKeyView):
    run_key_methods = frozenset({"POST"})

    @extend_schema(
        request=_one_or_many(DecisionReportSerializer, "DecisionReportOneOrMany"),
        responses={201: ReportResultSerializer},
        description="Log decisions, one or a list (up to 1,000); one bad item rejects all.",
    )
    def post(self, request: Request, run_id: int, **kwargs: Any) -> Response:
        run = self.get_run(run_id)
        reports = _validated_reports(DecisionReportSerializer, request.data)
        try:
            rows = services.decisions_report(run=run, agent=self.agent, reports=reports)
        except ReportItemError as exc:
            raise _rejected({exc.index: {exc.field or "detail": [exc.item_message]}}) from None
        return Response(
            {"written": len(rows), "ids": [row.pk for row in rows]},
            status=status.HTTP_201_CREATED,
        )


class RunMetricsView(AgentKeyView):
    run_key_methods = frozenset({"POST"})

    @extend_schema(
        request=_one_or_many(MetricReportSerializer, "MetricReportOneOrMany"),
        responses={201: ReportResultSerializer},
        description="Record metrics, one or a list (up to 1,000); one bad item rejects all.",
    )
    def post(self, request: Request, run_id: int, **kwargs: Any) -> Response:
        run = self.get_run(run_id)
        reports = _validated_reports(MetricReportSerializer, request.data)
        try:
            rows = services.metrics_report(run=run, agent=self.agent, reports=reports)
        except ReportItemError as exc:
            raise _rejected({exc.index: {exc.field or "detail": [exc.item_message]}}) from None
        return Response(
            {"written": len(rows), "ids": [row.pk for row in rows]},
            status=status.HTTP_201_CREATED,
        )
