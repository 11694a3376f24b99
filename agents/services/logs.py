"""The append-only audit trail: planning cycles, decisions and metrics (tool calls have
`agents/services/tool_calls.py`).

The logs are append-only in the database, so the only writes here are inserts: a planning
cycle is finished by inserting a second row that points at the first.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents import run_end_statements, shapes
from agents.models import Agent, AgentRun, DecisionLog, Metric, PlanningCycle
from agents.services._common import _check_same_project, _insert_once, _resolve_links
from core.db import prepared_cursor
from core.errors import DomainError
from core.inserts import insert_rows
from core.shapes import JsonShape
from planning.models import Project, Task

# Planning cycles, decisions, metrics -------------------------------------------------


@transaction.atomic
def planning_cycle_open(
    *,
    project: Project,
    goals: Any = None,
    agent: Agent | None = None,
    run: AgentRun | None = None,
) -> PlanningCycle:
    """Open a planning cycle (the "active" row). Raises DomainError for foreign links."""
    agent, _ = _resolve_links(project, agent=agent, run=run, task=None)
    cycle = PlanningCycle(
        project=project,
        agent=agent,
        run=run,
        status=PlanningCycle.Status.ACTIVE,
        goals=[] if goals is None else goals,
    )
    cycle.full_clean()
    cycle.save()
    return cycle


@transaction.atomic
def planning_cycle_close(
    *, cycle: PlanningCycle, status: str, outcomes: Any = None
) -> PlanningCycle:
    """Close a planning cycle as completed or abandoned by inserting its closing row.

    Raises DomainError when `cycle` is itself a closing row or `status` does not close,
    and ConflictError when the cycle is already closed.
    """
    if cycle.opened_id is not None:
        raise DomainError(f"Planning cycle {cycle.pk} is a closing row, not an active cycle.")
    if status not in (PlanningCycle.Status.COMPLETED, PlanningCycle.Status.ABANDONED):
        raise DomainError("A cycle closes as completed or abandoned.", field="status")
    closing = PlanningCycle(
        project_id=cycle.project_id,
        agent_id=cycle.agent_id,
        run_id=cycle.run_id,
        opened=cycle,
        status=status,
        goals=cycle.goals,
        outcomes=[] if outcomes is None else outcomes,
    )
    _insert_once(
        closing,
        conflict=f"Planning cycle {cycle.pk} is already closed.",
    )
    return closing


# The project, agent, run and task a log row is about, as model arguments.
Links = dict[str, Any]


def log_links(
    project: Project, agent: Agent | None, run: AgentRun | None, task: Task | None
) -> Links:
    """What a log row is about (its links checked already, see _resolve_links)."""
    return {
        "project_id": project.pk,
        "agent_id": agent.pk if agent else None,
        "run": run,
        "task_id": task.pk if task else None,
    }


def _run_links(run: AgentRun) -> Links:
    return {
        "project_id": run.project_id,
        "agent_id": run.agent_id,
        "run": run,
        "task_id": run.task_id,
    }


def _decision_row(
    links: Links,
    *,
    decision: str,
    reasoning: Any,
    at: datetime,
    planning_cycle: PlanningCycle | None = None,
) -> DecisionLog:
    return DecisionLog(
        **links,
        planning_cycle=planning_cycle,
        decision=decision,
        reasoning={} if reasoning is None else reasoning,
        created_at=at,
    )


def metric_row(links: Links, *, type: str, value: float, metadata: Any, at: datetime) -> Metric:
    """An unsaved Metric: the caller validates and inserts it (alone or in a batch)."""
    return Metric(
        **links,
        type=type,
        value=value,
        metadata={} if metadata is None else metadata,
        recorded_at=at,
    )


@transaction.atomic
def decision_record(
    *,
    project: Project,
    decision: str,
    reasoning: Any = None,
    agent: Agent | None = None,
    run: AgentRun | None = None,
    task: Task | None = None,
    planning_cycle: PlanningCycle | None = None,
) -> DecisionLog:
    """Log a decision and its reasoning.

    Raises DomainError for links into another project, a run of another agent, or a
    closing row given as the planning cycle.
    """
    _check_same_project(project, planning_cycle=planning_cycle)
    if planning_cycle is not None and planning_cycle.opened_id is not None:
        raise DomainError(
            f"Planning cycle {planning_cycle.pk} is a closing row; link the cycle it closes.",
            field="planning_cycle",
        )
    agent, task = _resolve_links(project, agent=agent, run=run, task=task)
    entry = _decision_row(
        log_links(project, agent, run, task),
        decision=decision,
        reasoning=reasoning,
        at=timezone.now(),
        planning_cycle=planning_cycle,
    )
    entry.full_clean()
    entry.save()
    return entry


@transaction.atomic
def metric_record(
    *,
    project: Project,
    type: str,
    value: float,
    metadata: Any = None,
    agent: Agent | None = None,
    run: AgentRun | None = None,
    task: Task | None = None,
    recorded_at: datetime | None = None,
) -> Metric:
    """Record a measurement. Raises DomainError for links into another project."""
    agent, task = _resolve_links(project, agent=agent, run=run, task=task)
    metric = metric_row(
        log_links(project, agent, run, task),
        type=type,
        value=value,
        metadata=metadata,
        at=recorded_at or timezone.now(),
    )
    metric.full_clean()
    metric.save()
    return metric


# A run's reports, many at a time ----------------------------------------------------------


class ReportItemError(DomainError):
    """One item of a report batch is invalid; nothing of the batch was written."""

    def __init__(self, index: int, message: str, *, field: str | None = None) -> None:
        super().__init__(f"Item {index}: {message}", field=field)
        self.index = index
        self.item_message = message


def check_report_item(index: int, shape: JsonShape, value: Any, *, default: Any) -> None:
    # Batches are inserted without full_clean, so each item is checked against the shape
    # its model declares; None stands for the field's default.
    problem = shape.problem(default if value is None else value)
    if problem is not None:
        raise ReportItemError(index, problem, field=shape.name)


def decisions_record(*, run: AgentRun, entries: Sequence[Mapping[str, Any]]) -> list[DecisionLog]:
    """Log decisions of a run in one insert, all or none (inside the caller's
    transaction); each entry has `decision` and may have `reasoning`. Raises
    ReportItemError for an entry without text."""
    now = timezone.now()
    rows = []
    for index, entry in enumerate(entries):
        if not str(entry.get("decision") or "").strip():
            raise ReportItemError(index, "a decision needs its text.", field="decision")
        check_report_item(index, shapes.DECISION_REASONING, entry.get("reasoning"), default={})
        rows.append(
            _decision_row(
                _run_links(run),
                decision=entry["decision"],
                reasoning=entry.get("reasoning"),
                at=now,
            )
        )
    return DecisionLog.objects.bulk_create(rows)


def metrics_record(*, run: AgentRun, entries: Sequence[Mapping[str, Any]]) -> list[Metric]:
    """Record measurements of a run in one insert, all or none (inside the caller's
    transaction); each entry has `type` and `value`, and may have `metadata` and
    `recorded_at`. Raises ReportItemError for an unknown metric type."""
    now = timezone.now()
    rows = []
    for index, entry in enumerate(entries):
        if entry.get("type") not in Metric.Type.values:
            raise ReportItemError(
                index, f"{entry.get('type')!r} is not a metric type.", field="type"
            )
        check_report_item(index, shapes.METRIC_METADATA, entry.get("metadata"), default={})
        rows.append(
            metric_row(
                _run_links(run),
                type=entry["type"],
                value=entry["value"],
                metadata=entry.get("metadata"),
                at=entry.get("recorded_at") or now,
            )
        )
    return Metric.objects.bulk_create(rows)


def run_metrics_record(*, run: AgentRun, qa_iterations: int | None = None) -> list[Metric]:
    """Record how long a finished run took and its task's QA iterations (one insert);
    `qa_iterations`, when the caller read them already (else they are read here)."""
    rows = run_metric_rows(run=run, qa_iterations=qa_iterations)
    insert_rows(rows)
    return rows


def run_metric_rows(*, run: AgentRun, qa_iterations: int | None = None) -> list[Metric]:
    """The unsaved Metrics run_metrics_record inserts, for a caller that inserts them
    with other work (a run's end frees its agent in the same statement)."""
    now = timezone.now()
    end = run.finished_at or now
    duration_s = max(0.0, (end - (run.started_at or end)).total_seconds())
    links = _run_links(run)
    rows = [
        metric_row(
            links,
            type=Metric.Type.RUN_DURATION,
            value=duration_s,
            metadata={"unit": "s", "status": run.status},
            at=now,
        )
    ]
    if run.task_id is not None:
        qa = qa_iterations
        if qa is None:
            # Every task run ends here: prepared statements, not querysets to compile.
            with prepared_cursor() as cursor:
                cursor.execute(run_end_statements.task_qa_iterations(), (run.task_id,))
                found = cursor.fetchone()
            qa = (found[0] if found else None) or 0
        rows.append(
            metric_row(links, type=Metric.Type.QA_ITERATIONS, value=qa, metadata=None, at=now)
        )
    return rows
