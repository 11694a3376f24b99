"""Write-side operations for agents and their audit trail. Every function is one transaction.

The logs (`ToolCall`, `DecisionLog`, `PlanningCycle`, `Metric`) are append-only in the
database, so the only writes here are inserts: a tool call or a planning cycle is finished
by inserting a second row that points at the first.
"""

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model, ProtectedError
from django.utils import timezone

from agents import selectors
from agents.models import (
    Agent,
    AgentRun,
    AgentState,
    Checkpoint,
    DecisionLog,
    Metric,
    PlanningCycle,
    ToolCall,
)
from core.errors import ConflictError, DomainError
from planning.models import Project, Task


def _save(instance: Model, *, update_fields: Iterable[str] | None = None) -> None:
    instance.full_clean()
    instance.save(update_fields=list(update_fields) if update_fields is not None else None)


def _insert_once(instance: Model, *, exists: Callable[[], bool], conflict: str) -> None:
    """Insert `instance`, turning a lost race on a unique column into ConflictError.

    The database's unique index is the arbiter, so two concurrent requests cannot both
    win; `exists()` tells a duplicate apart from any other integrity failure.
    """
    instance.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            instance.save(force_insert=True)
    except IntegrityError:
        if exists():
            raise ConflictError(conflict) from None
        raise


def _apply(instance: Model, data: Mapping[str, Any], allowed: Iterable[str]) -> list[str]:
    changed = []
    allowed = set(allowed)
    for name, value in data.items():
        if name not in allowed:
            raise DomainError(f"{name!r} cannot be changed here.", field=name)
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def _check_same_project(project: Project, **links: Model | None) -> None:
    for field, obj in links.items():
        if obj is not None and obj.project_id != project.pk:
            raise DomainError(f"{obj} belongs to another project.", field=field)


def _resolve_links(
    project: Project,
    *,
    agent: Agent | None,
    run: AgentRun | None,
    task: Task | None,
) -> tuple[Agent | None, Task | None]:
    """Check a log row's links and fill the agent and task in from the run when omitted."""
    _check_same_project(project, agent=agent, run=run, task=task)
    if run is not None:
        if agent is not None and agent.pk != run.agent_id:
            raise DomainError(f"Run {run.pk} belongs to another agent.", field="run")
        agent = agent or run.agent
        if task is None and run.task_id is not None:
            task = run.task
    return agent, task


# Agents -------------------------------------------------------------------------------

AGENT_FIELDS = (
    "name",
    "type",
    "status",
    "current_task",
    "worktree_path",
    "branch_name",
    "model",
    "termination_reason",
)


def _stamp_termination(agent: Agent) -> list[str]:
    # The database insists terminated_at is set exactly when the status is terminated.
    if agent.status == Agent.Status.TERMINATED and agent.terminated_at is None:
        agent.terminated_at = timezone.now()
        return ["terminated_at"]
    if agent.status != Agent.Status.TERMINATED and agent.terminated_at is not None:
        agent.terminated_at = None
        return ["terminated_at"]
    return []


@transaction.atomic
def agent_create(*, project: Project, name: str, type: str, **fields: Any) -> Agent:
    """Register an agent. Raises DomainError when its current task is in another project."""
    agent = Agent(project=project, name=name, type=type)
    _apply(agent, fields, AGENT_FIELDS)
    _check_same_project(project, current_task=agent.current_task)
    _stamp_termination(agent)
    _save(agent)
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, data: Mapping[str, Any]) -> Agent:
    """Change an agent. Moving to `terminated` stamps terminated_at; leaving it clears it.

    Raises DomainError when the current task is in another project.
    """
    changed = _apply(agent, data, AGENT_FIELDS)
    if "current_task" in changed:
        _check_same_project(agent.project, current_task=agent.current_task)
    if "status" in changed:
        changed += _stamp_termination(agent)
    if changed:
        _save(agent, update_fields=[*changed, "updated_at"])
    return agent


def agent_terminate(*, agent: Agent, reason: str = "") -> Agent:
    """Terminate an agent, recording why."""
    return agent_update(
        agent=agent, data={"status": Agent.Status.TERMINATED, "termination_reason": reason}
    )


@transaction.atomic
def agent_delete(*, agent: Agent) -> None:
    """Delete an agent and its runs.

    Raises ConflictError while audit records (tool calls, decisions, ...) refer to it.
    """
    try:
        agent.delete()
    except ProtectedError as exc:
        kinds = sorted({str(type(row)._meta.verbose_name_plural) for row in exc.protected_objects})
        raise ConflictError(
            f"Agent {agent.name} has an audit trail ({', '.join(kinds)}); "
            "terminate it instead of deleting it."
        ) from None


# Runs ---------------------------------------------------------------------------------


@transaction.atomic
def agent_run_create(
    *,
    project: Project,
    agent: Agent,
    task: Task | None = None,
    kind: str = AgentRun.Kind.TASK,
    attempt: int = 1,
    idempotency_key: str = "",
    lease_expires_at: datetime | None = None,
) -> AgentRun:
    """Queue a run of `agent`. Without an idempotency key a fresh one is generated.

    Raises ConflictError when a run with the same idempotency key exists, and DomainError
    for a terminated agent or links into another project.
    """
    _check_same_project(project, agent=agent, task=task)
    if agent.status == Agent.Status.TERMINATED:
        raise DomainError(f"Agent {agent.name} is terminated.", field="agent")
    key = idempotency_key or f"run-{uuid.uuid4()}"
    run = AgentRun(
        project=project,
        agent=agent,
        task=task,
        kind=kind,
        attempt=attempt,
        idempotency_key=key,
        lease_expires_at=lease_expires_at,
    )
    _insert_once(
        run,
        exists=lambda: AgentRun.objects.filter(idempotency_key=key).exists(),
        conflict=f"A run with idempotency key {key!r} already exists.",
    )
    return run


# Tool calls ---------------------------------------------------------------------------


@transaction.atomic
def tool_call_start(
    *,
    project: Project,
    tool_name: str,
    input: Any = None,
    agent: Agent | None = None,
    run: AgentRun | None = None,
    task: Task | None = None,
) -> ToolCall:
    """Log the start of a tool call (the "started" row).

    The agent and task default to the run's. Raises DomainError for links into another
    project or a run of another agent.
    """
    agent, task = _resolve_links(project, agent=agent, run=run, task=task)
    call = ToolCall(
        project=project,
        agent=agent,
        run=run,
        task=task,
        tool_name=tool_name,
        input={} if input is None else input,
    )
    _save(call)
    return call


@transaction.atomic
def tool_call_complete(
    *,
    started: ToolCall,
    status: str,
    output: Any = None,
    error: str = "",
    duration_ms: int | None = None,
) -> ToolCall:
    """Log how a tool call ended by inserting its completion row.

    Raises DomainError when `started` is itself a completion row, and ConflictError when
    the call already has a completion (the database's one-to-one decides a race).
    """
    if started.is_completion:
        raise DomainError(f"Tool call {started.pk} is a completion row, not a started call.")
    completion = ToolCall(
        project_id=started.project_id,
        agent_id=started.agent_id,
        run_id=started.run_id,
        task_id=started.task_id,
        started=started,
        tool_name=started.tool_name,
        status=status,
        output=output,
        error=error,
        duration_ms=duration_ms,
    )
    _insert_once(
        completion,
        exists=lambda: ToolCall.objects.filter(started=started).exists(),
        conflict=f"Tool call {started.pk} is already complete.",
    )
    return completion


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
    _save(cycle)
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
        exists=lambda: PlanningCycle.objects.filter(opened=cycle).exists(),
        conflict=f"Planning cycle {cycle.pk} is already closed.",
    )
    return closing


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
    entry = DecisionLog(
        project=project,
        agent=agent,
        run=run,
        task=task,
        planning_cycle=planning_cycle,
        decision=decision,
        reasoning={} if reasoning is None else reasoning,
    )
    _save(entry)
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
    metric = Metric(
        project=project,
        agent=agent,
        run=run,
        task=task,
        type=type,
        value=value,
        metadata={} if metadata is None else metadata,
        recorded_at=recorded_at or timezone.now(),
    )
    _save(metric)
    return metric


# Checkpoints --------------------------------------------------------------------------

CHECKPOINT_EDITABLE_FIELDS = ("name", "reason")


@transaction.atomic
def checkpoint_create(
    *,
    project: Project,
    name: str,
    reason: str = "",
    state: Any = None,
    git_commit: str = "",
) -> Checkpoint:
    """Capture project state under a name. Raises ValidationError for an over-long field."""
    checkpoint = Checkpoint(
        project=project,
        name=name,
        reason=reason,
        state={} if state is None else state,
        git_commit=git_commit,
    )
    _save(checkpoint)
    return checkpoint


@transaction.atomic
def checkpoint_update(*, checkpoint: Checkpoint, data: Mapping[str, Any]) -> Checkpoint:
    """Rename a checkpoint or change its reason. Its state is fixed at creation (DomainError)."""
    changed = _apply(checkpoint, data, CHECKPOINT_EDITABLE_FIELDS)
    if changed:
        _save(checkpoint, update_fields=changed)
    return checkpoint


@transaction.atomic
def checkpoint_delete(*, checkpoint: Checkpoint) -> None:
    """Delete a checkpoint; nothing refers to one."""
    checkpoint.delete()


# Agent state --------------------------------------------------------------------------

AGENT_STATE_FIELDS = ("namespace", "key", "value")


@transaction.atomic
def agent_state_create(*, project: Project, namespace: str, key: str, value: Any) -> AgentState:
    """Store a new entry. Raises ValidationError when (namespace, key) is taken."""
    entry = AgentState(project=project, namespace=namespace, key=key, value=value)
    _save(entry)
    return entry


@transaction.atomic
def agent_state_update(*, entry: AgentState, data: Mapping[str, Any]) -> AgentState:
    """Change an entry's value or move it. Raises ValidationError when the new key is taken."""
    changed = _apply(entry, data, AGENT_STATE_FIELDS)
    if changed:
        _save(entry, update_fields=[*changed, "updated_at"])
    return entry


@transaction.atomic
def agent_state_set(*, project: Project, namespace: str, key: str, value: Any) -> AgentState:
    """Create or overwrite the entry at (namespace, key) of the project."""
    entry = selectors.agent_state_get(
        project=project, namespace=namespace, key=key, for_update=True
    )
    if entry is not None:
        return agent_state_update(entry=entry, data={"value": value})
    entry = AgentState(project=project, namespace=namespace, key=key, value=value)
    entry.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
    except IntegrityError:
        # Another writer created the key after our look-up; theirs is the row to overwrite.
        entry = AgentState.objects.select_for_update().get(
            project=project, namespace=namespace, key=key
        )
        return agent_state_update(entry=entry, data={"value": value})
    return entry


@transaction.atomic
def agent_state_delete(*, entry: AgentState) -> None:
    """Delete an entry."""
    entry.delete()


# LLM usage ----------------------------------------------------------------------------


@transaction.atomic
def llm_usage_record(
    *,
    project: Project,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    latency_ms: float,
    cost_usd: float | None,
    usage_reported: bool = True,
    purpose: str = "",
    agent: Agent | None = None,
    run: AgentRun | None = None,
    task: Task | None = None,
) -> list[Metric]:
    """Record one LLM call as token_usage, latency and cost Metrics, in one insert.

    Cached tokens are a part of the input tokens and are not added to the total. A model
    without a price (`cost_usd` None) gets a cost of 0 marked `priced: false`. Raises
    DomainError for links into another project or a run of another agent.
    """
    agent, task = _resolve_links(project, agent=agent, run=run, task=task)
    call = {"model": model, "provider": provider, "purpose": purpose}
    tokens = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached_input_tokens,
        "usage_reported": usage_reported,
    }
    now = timezone.now()
    rows = [
        (Metric.Type.TOKEN_USAGE, input_tokens + output_tokens, {**tokens, **call}),
        (Metric.Type.LATENCY, latency_ms, call),
        (
            Metric.Type.COST,
            cost_usd or 0.0,
            {**call, "currency": "USD", "priced": cost_usd is not None},
        ),
    ]
    return Metric.objects.bulk_create(
        Metric(
            project=project,
            agent=agent,
            run=run,
            task=task,
            type=type,
            value=value,
            metadata=metadata,
            recorded_at=now,
        )
        for type, value, metadata in rows
    )
