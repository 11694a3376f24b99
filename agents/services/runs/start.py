"""Creating runs and starting them: a built-in run at its first step, an external
agent's claim, a one-task run taken by a worker, a paused run resumed."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agents import run_start_statements, statements
from agents.models import Agent, AgentRun
from agents.prompts import initial_messages, task_goal
from agents.services._common import _check_same_project, _insert_once
from agents.services.runs.delivery import (
    PREPARE_TASK,
    _current_step,
    _enqueue_step,
    _lease,
    is_coding_run,
)
from agents.services.runs.leases import run_links_attach
from agents.services.runs.locks import run_agent_lock
from core.db import instance_from_row, prepared_cursor
from core.errors import ConflictError, DomainError
from core.inserts import insert_rows, insert_statement
from core.queue import enqueue_on_commit
from planning.models import Executor, Project, Task


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
    not queued.

    Every run of a built-in agent starts here, so it is two prepared statements (on
    PostgreSQL): one locks the agent, then the run, and loads the run with its project,
    agent and task; the other records the start and marks the agent busy."""
    run = _run_locked_for_start(run)
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
    run.updated_at = now
    _record_start(run, now)
    if coding:
        # Any worker may make the worktree; the run then stays on that worker's host.
        enqueue_on_commit(PREPARE_TASK, run.pk, queue=settings.AGENT_QUEUE)
    else:
        _enqueue_step(run, 1)
    return run


def _run_locked_for_start(run: AgentRun) -> AgentRun:
    """The queued run, locked after its agent, with its project, agent and task; raises
    ConflictError when it is not queued or has steps."""
    with prepared_cursor() as cursor:
        postgresql = connection.vendor == "postgresql"
        params = (run.agent_id, run.pk) if postgresql else (run.pk,)
        cursor.execute(run_start_statements.run_for_start(connection.vendor), params)
        row = cursor.fetchone()
    if row is None:
        raise AgentRun.DoesNotExist(f"Run {run.pk} does not exist.")
    run_end = len(statements.RUN_FIELDS)
    locked = instance_from_row(AgentRun, statements.RUN_FIELDS, row[:run_end])
    if locked.status != AgentRun.Status.QUEUED or row[-1]:
        raise ConflictError(f"Run {run.pk} has already started.")
    run_links_attach(locked, row[run_end:-1])
    return locked


def _record_start(run: AgentRun, now: datetime) -> None:
    """Store what run_start set on the locked run, and mark its agent busy (on
    PostgreSQL in the same statement)."""
    at = connection.ops.adapt_datetimefield_value(now)
    lease = connection.ops.adapt_datetimefield_value(run.lease_expires_at)
    payload = AgentRun._meta.get_field("payload").get_db_prep_save(run.payload, connection)
    # The choices as their plain values, as the fields store them.
    status, stage, executor = str(run.status), str(run.stage), str(run.executor)
    started = (status, at, at, lease, stage, executor, payload, at, run.pk)
    busy = (Agent.Status.BUSY.value, run.task_id, at, at, run.agent_id)
    with prepared_cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(run_start_statements.run_started(connection.vendor), (*started, *busy))
        else:
            cursor.execute(run_start_statements.run_started(connection.vendor), started)
            cursor.execute(statements.agent_busy(), busy)


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
