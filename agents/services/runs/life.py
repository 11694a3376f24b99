"""Starting, renewing, ending and retrying runs (see the package's docstring)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agents import shapes, statements
from agents.models import Agent, AgentRun, AgentStep
from agents.prompts import initial_messages, task_goal
from agents.services._common import _check_same_project, _insert_once
from agents.services.logs import run_metrics_record
from agents.services.runs.delivery import (
    LEASE_EXPIRED,
    PREPARE_TASK,
    REVIEW_DIFF_WARM_TASK,
    _agent_busy,
    _current_step,
    _enqueue_step,
    _lease,
    _queue,
    dispatch_after_commit,
    is_coding_run,
)
from core.db import insert_rows, insert_statement, instance_from_row, prepared_cursor
from core.errors import ConflictError, DomainError
from core.queue import enqueue_on_commit
from planning import services as planning_services
from planning.models import Executor, Project, Task

# Locks ------------------------------------------------------------------------------------


def agent_lock(*, agent_id: int) -> None:
    """Lock an agent's row until the caller's transaction ends, before any run of it: every
    path that takes both takes the agent first. FOR NO KEY UPDATE, which a row inserted
    for the agent (a tool call, a decision) does not wait for when its foreign key is
    checked at commit (FOR KEY SHARE): a report, which locks only its run, never waits
    for a path that holds the agent and waits for the run."""
    list(Agent.objects.select_for_update(no_key=True).filter(pk=agent_id).values_list("pk"))


def run_agent_lock(*, run_id: int) -> None:
    """Lock the agent of run `run_id` (see agent_lock), before the run itself."""
    list(
        Agent.objects.select_for_update(no_key=True, of=("self",))
        .filter(runs=run_id)
        .values_list("pk")
    )


# Creating and starting ------------------------------------------------------------------


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
    payload: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
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
        payload=payload or {},
        result=result or {},
    )
    _insert_once(run, conflict=f"A run with idempotency key {key!r} already exists.")
    return run


@transaction.atomic
def run_start(*, run: AgentRun, goal: str | None = None, max_turns: int | None = None) -> AgentRun:
    """Begin a queued run of a built-in agent at step 1. Raises ConflictError when it is
    not queued."""
    agent_lock(agent_id=run.agent_id)
    run = (
        AgentRun.objects.select_for_update(of=("self",))
        .select_related("project", "agent", "task")
        .get(pk=run.pk)
    )
    if run.status != AgentRun.Status.QUEUED or run.steps.exists():
        raise ConflictError(f"Run {run.pk} has already started.")
    coding = is_coding_run(run)
    if run.agent.executor != Executor.BUILTIN and not coding:
        raise DomainError(
            f"Agent {run.agent.name} runs {run.agent.get_executor_display()}, which works in a "
            "git worktree: give the project a repository (root path) first."
        )
    now = timezone.now()
    run.payload = {
        **run.payload,
        "messages": initial_messages(run, goal or task_goal(run)),
        "max_turns": max_turns or settings.AGENT_MAX_TURNS,
    }
    run.status = AgentRun.Status.RUNNING
    run.started_at = now
    run.heartbeat_at = now
    run.lease_expires_at = _lease(now)
    run.stage = AgentRun.Stage.PREPARING if coding else ""
    run.executor = run.agent.executor
    run.save()
    _agent_busy(run, now=now)
    if coding:
        # Any worker may make the worktree; the run then stays on that worker's host.
        enqueue_on_commit(PREPARE_TASK, run.pk, queue=settings.AGENT_QUEUE)
    else:
        _enqueue_step(run, 1)
    return run


def run_open_for_claim(
    *, agent: Agent, task: Task, attempt: int, lease_seconds: int, now: datetime
) -> AgentRun:
    """Record an external agent's claim of `task` as a running run under a lease, and
    mark the agent busy with it (inside the claim's transaction, which holds the agent
    and the task locked). Two prepared statements: claims are a hot path."""
    run = _claimed_run(agent, task, attempt, lease_seconds, now)
    insert_rows([run])
    at = connection.ops.adapt_datetimefield_value(now)
    with prepared_cursor() as cursor:
        cursor.execute(
            statements.agent_busy(), (Agent.Status.BUSY.value, task.pk, at, at, agent.pk)
        )
    return run


def run_open_for_claim_unless_held(
    *, agent: Agent, task: Task, attempt: int, lease_seconds: int, now: datetime
) -> AgentRun | None:
    """PostgreSQL: run_open_for_claim in one statement, which first checks that the agent
    holds no running run. Run after the agent's lock, the statement sees a run that a
    concurrent claim by the same agent committed while this one waited for the lock.
    Returns None, having changed nothing, when the agent holds one."""
    run = _claimed_run(agent, task, attempt, lease_seconds, now)
    insert = insert_statement([run], unless=statements.agent_holds_run())
    assert insert is not None  # a run inserts in one statement
    insert_sql, insert_params = insert
    at = connection.ops.adapt_datetimefield_value(now)
    with prepared_cursor() as cursor:
        cursor.execute(
            f"WITH new_run AS ({insert_sql}) {statements.agent_busy_with_new_run()}",
            (
                *insert_params,
                agent.pk,
                *(Agent.Status.BUSY.value, task.pk, at, at, agent.pk),
            ),
        )
        row = cursor.fetchone()
    if row is None:
        return None
    run.pk = row[0]
    run._state.adding = False
    run._state.db = connection.alias
    return run


def _claimed_run(
    agent: Agent, task: Task, attempt: int, lease_seconds: int, now: datetime
) -> AgentRun:
    return AgentRun(
        project_id=agent.project_id,
        agent=agent,
        task=task,
        kind=AgentRun.Kind.TASK,
        status=AgentRun.Status.RUNNING,
        attempt=attempt,
        # Unique: should two transactions ever take the same task, one fails here.
        idempotency_key=f"claim:task-{task.pk}:attempt-{attempt}",
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        heartbeat_at=now,
        started_at=now,
        payload={"task": task.key, "lease_seconds": lease_seconds},
    )


# In a one-task run's result: how many times a worker has taken it.
DELIVERIES = "deliveries"


def run_take(*, run_id: int, lease: timedelta, stage: str) -> AgentRun | None:
    """Mark a one-task run (plan generation) running under a lease, at `stage`, and
    count the delivery; None when it has finished or another worker holds a live lease
    on it."""
    with transaction.atomic():
        run_agent_lock(run_id=run_id)
        run = (
            AgentRun.objects.select_for_update(of=("self",))
            .select_related("project", "agent")
            .get(pk=run_id)
        )
        now = timezone.now()
        if run.status in AgentRun.FINISHED_STATUSES:
            return None
        if (
            run.status == AgentRun.Status.RUNNING
            and run.lease_expires_at
            and run.lease_expires_at > now
        ):
            return None
        run.status = AgentRun.Status.RUNNING
        run.started_at = run.started_at or now
        run.executor = run.executor or run.agent.executor
        run.heartbeat_at = now
        run.lease_expires_at = _lease(now, lease.total_seconds())
        run.result = {**run.result, "stage": stage, DELIVERIES: run.result.get(DELIVERIES, 0) + 1}
        Agent.objects.filter(pk=run.agent_id).update(last_activity_at=now)
        run.save(
            update_fields=[
                "status",
                "executor",
                "started_at",
                "heartbeat_at",
                "lease_expires_at",
                "result",
                "updated_at",
            ]
        )
        return run


# Leases and progress --------------------------------------------------------------------


def run_lease_renew_for_step(*, run_id: int, number: int, now: datetime) -> AgentRun | None:
    """Renew the lease of a running run as a delivery of its step `number` begins, and
    record the step as its progress; the run stays locked until the caller's
    transaction ends. Returns the run (its own columns only), or None when it is not
    running. One prepared statement: every delivery of every step runs it."""
    at = connection.ops.adapt_datetimefield_value(now)
    lease = connection.ops.adapt_datetimefield_value(_lease(now))
    with prepared_cursor() as cursor:
        cursor.execute(
            statements.step_statements(connection.vendor).renew_lease,
            (at, lease, at, number, run_id),
        )
        row = cursor.fetchone()
    return None if row is None else instance_from_row(AgentRun, statements.RUN_FIELDS, row)


def run_lease_renew_claiming_step(
    *, run_id: int, number: int, now: datetime
) -> tuple[AgentRun, tuple[Any, ...]] | None:
    """PostgreSQL: run_lease_renew_for_step, and the claim of step `number`, in one
    statement of its own transaction (statements.StepStatements.claim_step): the run is
    renewed unless the step is over. Returns the run (its own columns) with the rest of
    the statement's row, or None when the run is not running or the step is over."""
    sql = statements.step_statements(connection.vendor).claim_step
    assert sql is not None, "one statement claims a step on PostgreSQL only"
    at = connection.ops.adapt_datetimefield_value(now)
    lease = connection.ops.adapt_datetimefield_value(_lease(now))
    with prepared_cursor() as cursor:
        cursor.execute(sql, {"at": at, "lease": lease, "number": number, "run": run_id})
        row = cursor.fetchone()
    if row is None:
        return None
    run_end = len(statements.RUN_FIELDS)
    return instance_from_row(AgentRun, statements.RUN_FIELDS, row[:run_end]), tuple(row[run_end:])


def run_lease_extend(*, run: AgentRun, seconds: int, now: datetime) -> AgentRun:
    """An external agent's heartbeat: extend the lease on its run by `seconds`."""
    run.heartbeat_at = now
    run.lease_expires_at = now + timedelta(seconds=seconds)
    run.save(update_fields=["heartbeat_at", "lease_expires_at", "updated_at"])
    return run


def run_heartbeat(*, run_id: int) -> bool:
    """Renew a running run's lease while long work goes on outside a step's
    transactions (an agent's command); returns whether the run is still running (a
    cancelled one stops its command)."""
    now = timezone.now()
    renewed = AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.RUNNING).update(
        heartbeat_at=now, lease_expires_at=_lease(now), updated_at=now
    )
    return bool(renewed)


# How often long work outside a step (a command, a check, a setup) renews its run's lease.
LEASE_RENEW_S = 30.0


def run_stopped_check(
    *, run_id: int, on_tick: Callable[[], None] | None = None
) -> Callable[[], bool]:
    """A predicate for a command runner's `should_cancel`, asked about every half second
    while long work of a running run goes on: whether the run has stopped (cancelled, or
    ended otherwise). It renews the run's lease every LEASE_RENEW_S, so the stale-run
    sweep leaves the work be, and calls `on_tick` first (to pass a log on, say)."""
    renewed_at = time.monotonic()

    def stopped() -> bool:
        nonlocal renewed_at
        if on_tick is not None:
            on_tick()
        if time.monotonic() - renewed_at >= LEASE_RENEW_S:
            renewed_at = time.monotonic()
            return not run_heartbeat(run_id=run_id)
        status = AgentRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
        return status != AgentRun.Status.RUNNING

    return stopped


def run_progress(*, run: AgentRun, lease: timedelta, **result: object) -> AgentRun:
    """Record a one-task run's progress; it is also its heartbeat, so the lease is
    extended by `lease`. A run that ended meanwhile (cancelled) is left alone."""
    run.result = {**run.result, **result}
    run.heartbeat_at = timezone.now()
    run.lease_expires_at = _lease(run.heartbeat_at, lease.total_seconds())
    AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.RUNNING).update(
        result=run.result, heartbeat_at=run.heartbeat_at, lease_expires_at=run.lease_expires_at
    )
    return run


def run_resume(*, run: AgentRun) -> AgentRun:
    """Carry on a run that paused at a step boundary (queued with steps done), at its
    next step (inside the caller's transaction)."""
    now = timezone.now()
    run.status = AgentRun.Status.RUNNING
    run.heartbeat_at = now
    run.lease_expires_at = _lease(now)
    run.save(update_fields=["status", "heartbeat_at", "lease_expires_at", "updated_at"])
    _enqueue_step(run, run.result.get("next_step") or _current_step(run))
    return run


# Ending -----------------------------------------------------------------------------------


def _end(run: AgentRun, *, status: str, now: datetime, error: str, result: dict[str, Any]) -> None:
    run.status = status
    # Never before started_at, even on a clock that stepped back.
    run.finished_at = max(now, run.started_at) if run.started_at else now
    run.error = error
    run.lease_expires_at = None
    run.result = {**run.result, **result}
    # A coding CLI's run key stops working with its run.
    run.key_hash = ""
    run.save(
        update_fields=[
            *("status", "finished_at", "error", "lease_expires_at", "result", "key_hash"),
            "updated_at",
        ]
    )


def _settle(run: AgentRun, *, now: datetime, active: bool = True) -> None:
    """After a task run's end: record its metrics, move its task on, free its agent.

    A built-in agent's task becomes done, failed or (cancelled) pending again, unless
    someone closed it or gave it to another agent meanwhile. An external agent's task
    is settled only while the agent still has it in progress: done, or back in the
    queue."""
    run_metrics_record(run=run)
    # The agent's row before the task's, in the order every path locks them.
    fields: dict[str, Any] = {"status": Agent.Status.IDLE, "current_task": None, "updated_at": now}
    if active:
        fields["last_activity_at"] = now
    Agent.objects.filter(
        pk=run.agent_id, status=Agent.Status.BUSY, current_task_id=run.task_id
    ).update(**fields)
    if run.task_id is None or run.kind == AgentRun.Kind.REVIEW:
        # A reviewer's verdict acted on the task when it was given (services.reviews).
        return
    external = run.agent.type == Agent.Type.EXTERNAL
    if run.status == AgentRun.Status.SUCCEEDED:
        # An external agent reports its task done itself; a built-in or CLI agent's
        # work waits for a reviewer (its checks, if any, have passed).
        # (An external agent that names the branch holding its work waits for one too.)
        task_status = Task.Status.DONE if external and not run.branch_name else Task.Status.REVIEW
    elif run.status == AgentRun.Status.CANCELLED or external:
        task_status = Task.Status.PENDING
    elif run.result.get("qa_blocked"):
        task_status = Task.Status.BLOCKED
    else:
        task_status = Task.Status.FAILED
    succeeded = run.status == AgentRun.Status.SUCCEEDED
    # Its feature, sub-feature and project roll up in this transaction, never waiting
    # for their rows (see planning.services.rollup: dispatch holds the project's).
    planning_services.task_release(
        task_id=run.task_id,
        status=task_status,
        agent_id=run.agent_id,
        held_only=external,
        coded_by_id=run.agent_id if succeeded else None,
        project_id=run.project_id,
    )
    if task_status == Task.Status.REVIEW and run.branch_name:
        # Read and colour the attempt's diff before a reviewer opens it, on the host that
        # holds the repository (agents.services.review_diffs).
        enqueue_on_commit(REVIEW_DIFF_WARM_TASK, run.pk, queue=_queue(run))


def run_still_running(*, run: AgentRun) -> bool:
    """Lock the run (until the caller's transaction ends) and say whether it is still
    running: someone may have cancelled it meanwhile. Its status and error are
    refreshed."""
    # The agent first: the caller may end the run, which frees its agent.
    agent_lock(agent_id=run.agent_id)
    locked = AgentRun.objects.select_for_update().filter(pk=run.pk).values("status", "error").get()
    run.status, run.error = locked["status"], locked["error"]
    return run.status == AgentRun.Status.RUNNING


def run_finish(
    *,
    run: AgentRun,
    succeeded: bool,
    summary: str | None = None,
    error: str = "",
    result: dict[str, Any] | None = None,
) -> AgentRun:
    """End a running run as succeeded or failed (inside the caller's transaction, which
    holds it locked). `summary` and `result` go into the run's result; a failed run's
    error defaults to its summary.

    A task run's task and agent are settled (see `_settle`) and the project dispatched
    once the transaction commits. A planning run ends on its own.
    """
    now = timezone.now()
    shapes.RUN_RESULT.check(result or {}, field="result")
    extra = dict(result or {})
    if summary is not None:
        extra["summary"] = summary
    status = AgentRun.Status.SUCCEEDED if succeeded else AgentRun.Status.FAILED
    _end(
        run,
        status=status,
        now=now,
        error=error or ("" if succeeded else summary or ""),
        result=extra,
    )
    if run.kind in (AgentRun.Kind.TASK, AgentRun.Kind.REVIEW):
        _settle(run, now=now)
        dispatch_after_commit(run.project_id)
    return run


@transaction.atomic
def run_fail(*, run_id: int, error: str) -> AgentRun | None:
    """Give up on a built-in run whose step kept failing (the model unreachable after
    retries, a worker that died at every delivery). Returns None when it is not running."""
    run_agent_lock(run_id=run_id)
    run = (
        AgentRun.objects.select_for_update(of=("self",))
        .select_related("project", "task", "agent")
        .get(pk=run_id)
    )
    if run.status != AgentRun.Status.RUNNING:
        return None
    AgentStep.objects.filter(run=run, status=AgentStep.Status.RUNNING).update(
        status=AgentStep.Status.FAILED, error=error
    )
    return run_finish(run=run, succeeded=False, summary="", error=error)


@transaction.atomic
def run_cancel(*, run: AgentRun, reason: str = "cancelled") -> AgentRun:
    """Stop a run at its next step boundary; its task goes back to pending. Raises
    ConflictError when it has ended."""
    # The agent first, then the run: the order every path takes them in (agent_lock).
    agent = Agent.objects.select_for_update(no_key=True).get(pk=run.agent_id)
    run = AgentRun.objects.select_for_update().get(pk=run.pk)
    run.agent = agent
    if run.status not in AgentRun.ACTIVE_STATUSES:
        raise ConflictError(f"Run {run.pk} is already {run.status}.")
    now = timezone.now()
    _end(run, status=AgentRun.Status.CANCELLED, now=now, error=reason, result={})
    # No dispatch: the task would go straight back to an agent. The periodic sweep
    # hands it out again while the project runs.
    _settle(run, now=now)
    return run


def run_expire(*, run: AgentRun, now: datetime) -> AgentRun:
    """Fail an external agent's run whose lease ran out (inside the caller's
    transaction, which holds the agent and the run locked): its task goes back to the
    queue, its agent turns idle, and a late completion of the run is refused."""
    _end(run, status=AgentRun.Status.FAILED, now=now, error=LEASE_EXPIRED, result={})
    _settle(run, now=now, active=False)
    dispatch_after_commit(run.project_id)
    return run
