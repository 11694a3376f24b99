"""What an external agent reports of its run: tool calls, decisions and metrics, each
batch all or none. A report locks only its run (see agents/services/external.py for the
lock order every external agent's request keeps)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents import shapes
from agents.models import Agent, AgentRun, DecisionLog, Metric, ToolCall
from agents.services.logs import (
    ReportItemError,
    check_report_item,
    decisions_record,
    metrics_record,
)
from core.errors import DomainError, PermissionDeniedError

MAX_REPORT_ITEMS = 1000


def _reporting_run(run: AgentRun, *, agent: Agent, reports: Sequence[Any]) -> AgentRun:
    if not reports:
        raise DomainError("Send one report, or a list of them.")
    if len(reports) > MAX_REPORT_ITEMS:
        raise DomainError(f"Send at most {MAX_REPORT_ITEMS} reports at a time.")
    # Locked so that two requests reporting the same call cannot both log its start.
    run = AgentRun.objects.select_for_update().get(pk=run.pk)
    if run.agent_id != agent.pk:
        raise PermissionDeniedError(f"Run {run.pk} belongs to another agent.")
    return run


@dataclass(frozen=True)
class ReportedToolCall:
    started: ToolCall
    completion: ToolCall | None
    rows_written: int  # by this report: 0 for a replay, 1 or 2 otherwise


def tool_calls_report(
    *, run: AgentRun, agent: Agent, reports: Sequence[Mapping[str, Any]]
) -> list[ReportedToolCall]:
    """Log tool calls of the agent's run, all or none, and return them in report order.

    A call is named by (step, call_id); step may be None. A report without a status logs
    the call's start; one with a status logs its completion too, and its start unless
    that is already logged. Whatever is already logged is not logged again, so a retried
    request is harmless. Reports are accepted after the run has ended: the audit trail
    keeps what a stale attempt did.

    Raises ReportItemError for a report that would start a call without naming its tool,
    PermissionDeniedError for another agent's run, DomainError for an empty or too big
    batch.
    """
    with transaction.atomic():
        run = _reporting_run(run, agent=agent, reports=reports)
        now = timezone.now()
        started: dict[tuple[int | None, str], ToolCall] = {}
        completions: dict[tuple[int | None, str], ToolCall] = {}
        logged = ToolCall.objects.filter(
            run=run, started__isnull=True, call_id__in={r["call_id"] for r in reports}
        ).select_related("completion")
        for call in logged:
            started[call.step, call.call_id] = call
            completion = getattr(call, "completion", None)
            if completion is not None:
                completions[call.step, call.call_id] = completion
        new_starts: list[ToolCall] = []
        to_complete: dict[tuple[int | None, str], Mapping[str, Any]] = {}
        keys = []
        for index, report in enumerate(reports):
            key = (report.get("step"), report["call_id"])
            keys.append(key)
            if key not in started:
                if not report.get("tool_name"):
                    raise ReportItemError(
                        index,
                        f"call {report['call_id']!r} has not been started; give its tool_name.",
                        field="tool_name",
                    )
                input = report.get("input")
                check_report_item(index, shapes.TOOL_CALL_INPUT, input, default={})
                started[key] = ToolCall(
                    project_id=run.project_id,
                    agent_id=run.agent_id,
                    run=run,
                    task_id=run.task_id,
                    step=key[0],
                    call_id=key[1],
                    tool_name=report["tool_name"],
                    input={} if input is None else input,
                    created_at=now,
                )
                new_starts.append(started[key])
            if report.get("status") and key not in completions and key not in to_complete:
                check_report_item(
                    index, shapes.TOOL_CALL_OUTPUT, report.get("output"), default=None
                )
                to_complete[key] = report
        ToolCall.objects.bulk_create(new_starts)
        new_completions = [
            ToolCall(
                project_id=run.project_id,
                agent_id=run.agent_id,
                run=run,
                task_id=run.task_id,
                started=started[key],
                step=key[0],
                call_id=key[1],
                tool_name=started[key].tool_name,
                status=report["status"],
                output=report.get("output"),
                error=report.get("error") or "",
                duration_ms=report.get("duration_ms"),
                created_at=now,
            )
            for key, report in to_complete.items()
        ]
        ToolCall.objects.bulk_create(new_completions)
        completions.update(zip(to_complete, new_completions, strict=True))
        new_rows = {id(row) for row in (*new_starts, *new_completions)}
        reported = []
        for key in keys:
            completion = completions.get(key)
            rows = (started[key], completion)
            written = sum(1 for row in rows if id(row) in new_rows)
            new_rows -= {id(row) for row in rows}
            reported.append(ReportedToolCall(started[key], completion, rows_written=written))
        return reported


def decisions_report(
    *, run: AgentRun, agent: Agent, reports: Sequence[Mapping[str, Any]]
) -> list[DecisionLog]:
    """Log decisions of the agent's run, all or none.

    Raises ReportItemError for a decision without text, PermissionDeniedError for
    another agent's run, DomainError for an empty or too big batch.
    """
    with transaction.atomic():
        run = _reporting_run(run, agent=agent, reports=reports)
        return decisions_record(run=run, entries=reports)


def metrics_report(
    *, run: AgentRun, agent: Agent, reports: Sequence[Mapping[str, Any]]
) -> list[Metric]:
    """Record measurements of the agent's run, all or none.

    Raises ReportItemError for an unknown metric type, PermissionDeniedError for another
    agent's run, DomainError for an empty or too big batch.
    """
    with transaction.atomic():
        run = _reporting_run(run, agent=agent, reports=reports)
        return metrics_record(run=run, entries=reports)
