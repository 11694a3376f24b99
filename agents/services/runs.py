"""The one owner of an agent run's life.

```
           start / resume                   finish
  queued ─────────────────▶ running ─────────────────▶ succeeded | failed
    ▲  ◀──── pause (at a step boundary) ──┘   ▲                     │
    │                                         └──────── retry ◀─────┘ (built-in, failed)
  queued | running ── cancel ──▶ cancelled
  running ── expire (an external agent's lease ran out) ──▶ failed
```

A coding attempt (a task run of a built-in or CLI agent in a project with a repository)
goes through stages while it is running:

```
  preparing ── worktree made, setup run ──▶ coding ── work done ──▶ verifying
                                              ▲                        │
                                              └── checks failed, ◀─────┤ checks passed:
                                                  under the limit      │ succeeded, task in review
                                                                       └ limit reached: failed,
                                                                         task blocked
```
Steps, the CLI and the checks of a run go to the Celery queue of the host that holds
its worktree (`AgentRun.worker_queue`).

Every change to a run's status, lease or progress is made here; the step loop
(`agents.runtime`), the orchestrator, the external-agent protocol and the planner call
these functions. A task run's end settles its task and frees its agent in the same
transaction, records its metrics, and (except a cancel) asks for a dispatch once the
transaction commits. Status sets live on the model: `AgentRun.ACTIVE_STATUSES` and
`AgentRun.FINISHED_STATUSES`.

Locks are taken in one order everywhere: the agent, then the run, then the task.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from agents import statements
from agents.models import Agent, AgentRun, AgentStep
from agents.prompts import initial_messages, task_goal
from agents.services._common import _check_same_project, _insert_once
from agents.services.logs import run_metrics_record
from core.db import insert_rows, instance_from_row, prepared_cursor
from core.errors import ConflictError, DomainError
from core.queue import enqueue_on_commit
from planning import selectors as planning_selectors
from planning import services as planning_services
from planning.models import Executor, Project, Task

TURN_LIMIT = "turn limit reached"
LEASE_EXPIRED = "lease expired"
# In a run's result: the attempts its current step had when a person retried the run.
ATTEMPTS_AT_RETRY = "step_attempts_at_retry"

RUN_STEP_TASK = "agents.tasks.run_step"
PREPARE_TASK = "agents.tasks.prepare_run"
EXECUTOR_TASK = "agents.tasks.run_executor"
VERIFY_TASK = "agents.tasks.verify_run"
DISPATCH_TASK = "agents.tasks.dispatch_project"
GENERATE_PLAN_TASK = "agents.tasks.generate_plan"
# A plan generation still queued this long after it was asked for is delivered again.
PLANNING_QUEUED_TOO_LONG = timedelta(minutes=10)


def _lease(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.AGENT_LEASE_SECONDS)


def _queue(run: AgentRun) -> str:
    return run.worker_queue or settings.AGENT_QUEUE


def _enqueue_step(run: AgentRun, number: int) -> None:
    enqueue_on_commit(RUN_STEP_TASK, run.pk, number, queue=_queue(run))


def _enqueue_work(run: AgentRun, number: int) -> None:
    """Hand the run's coding back to its agent: the step loop's step `number`, or
    (for a CLI agent) another run of its CLI."""
    if run.agent.executor == Executor.BUILTIN:
        _enqueue_step(run, number)
    else:
        enqueue_on_commit(EXECUTOR_TASK, run.pk, queue=_queue(run))


def is_coding_run(run: AgentRun) -> bool:
    """A task run that works in a worktree of the project's repository."""
    return (
        run.kind == AgentRun.Kind.TASK
        and run.task_id is not None
        and bool(run.project.root_path)
        and run.agent.type not in Agent.NOT_DISPATCHED_TYPES
    )


def _agent_busy(run: AgentRun, *, now: datetime) -> None:
    """The run's agent is at work on its task. (A claim does the same in its own
    prepared statement, statements.agent_busy.)"""
    Agent.objects.filter(pk=run.agent_id).update(
        status=Agent.Status.BUSY, current_task=run.task_id, last_activity_at=now, updated_at=now
    )


def dispatch_after_commit(project_id: int) -> None:
    """Dispatch the project once the caller's transaction commits: work may have become
    ready, or an agent free (dispatch does nothing unless the project is running)."""
    enqueue_on_commit(DISPATCH_TASK, project_id, queue=settings.AGENT_QUEUE)


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
    run = AgentRun(
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
    insert_rows([run])
    at = connection.ops.adapt_datetimefield_value(now)
    with prepared_cursor() as cursor:
        cursor.execute(
            statements.agent_busy(), (Agent.Status.BUSY.value, task.pk, at, at, agent.pk)
        )
    return run


def run_take(*, run_id: int, lease: timedelta, stage: str) -> AgentRun | None:
    """Mark a one-task run (plan generation) running under a lease, at `stage`; None
    when it has finished or another worker holds a live lease on it."""
    with transaction.atomic():
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
        run.heartbeat_at = now
        run.lease_expires_at = now + lease
        run.result = {**run.result, "stage": stage}
        Agent.objects.filter(pk=run.agent_id).update(last_activity_at=now)
        run.save(
            update_fields=[
                "status",
                "started_at",
                "heartbeat_at",
                "lease_expires_at",
                "result",
                "updated_at",
            ]
        )
        return run


# Coding stages ----------------------------------------------------------------------------


def run_take_stage(*, run_id: int, stage: str) -> AgentRun | None:
    """Lock a running run at `stage` for the work of that stage and renew its lease
    (inside the caller's transaction); None when it is no longer running at that stage
    (cancelled, finished, or moved on by an earlier delivery)."""
    run = (
        AgentRun.objects.select_for_update(of=("self",))
        .select_related("project", "agent", "task")
        .filter(pk=run_id)
        .first()
    )
    if run is None or run.status != AgentRun.Status.RUNNING or run.stage != stage:
        return None
    now = timezone.now()
    run.heartbeat_at = now
    run.lease_expires_at = _lease(now)
    run.save(update_fields=["heartbeat_at", "lease_expires_at", "updated_at"])
    return run


def run_workspace_ready(*, run: AgentRun, worktree_path: str, branch_name: str) -> AgentRun:
    """The run's worktree is made and set up on this worker's host: record it, and start
    the agent's work there (inside the caller's transaction, which holds the run
    locked). From now on the run's work goes to this host's queue."""
    run.worktree_path = worktree_path
    run.branch_name = branch_name
    run.worker_queue = settings.WORKER_HOST_QUEUE
    run.stage = AgentRun.Stage.CODING
    run.save(update_fields=["worktree_path", "branch_name", "worker_queue", "stage", "updated_at"])
    _enqueue_work(run, 1)
    return run


def run_work_done(*, run: AgentRun, summary: str) -> AgentRun:
    """The agent says its attempt is over (inside the caller's transaction, which holds
    the run locked). A coding run moves on to its checks; any other task run succeeds,
    and its task waits for review."""
    if run.stage != AgentRun.Stage.CODING:
        return run_finish(run=run, succeeded=True, summary=summary)
    now = timezone.now()
    run.stage = AgentRun.Stage.VERIFYING
    run.heartbeat_at = now
    run.lease_expires_at = _lease(now)
    run.result = {**run.result, "summary": summary}
    run.save(update_fields=["stage", "heartbeat_at", "lease_expires_at", "result", "updated_at"])
    enqueue_on_commit(VERIFY_TASK, run.pk, queue=_queue(run))
    return run


@transaction.atomic
def run_verified(*, run_id: int, passed: bool, report: str) -> AgentRun | None:
    """Record the outcome of a verifying run's checks; None when the run is no longer
    verifying (cancelled meanwhile, or a duplicate delivery recorded it first).

    Passed: the run succeeds and its task waits for review. Failed: the task's
    `qa_iterations` goes up by one; under the project's limit the agent gets the failing
    output and carries on, at the limit the run fails and the task is blocked for a
    person (retry, edit or abandon it).
    """
    run = run_take_stage(run_id=run_id, stage=AgentRun.Stage.VERIFYING)
    if run is None:
        return None
    if passed:
        return run_finish(run=run, succeeded=True, summary=run.result.get("summary", ""))
    assert run.task_id is not None  # a coding run has a task
    iterations = planning_services.task_qa_iteration_add(task_id=run.task_id)
    limit = run.project.max_qa_iterations
    if iterations >= limit:
        run_finish(
            run=run,
            succeeded=False,
            summary="",
            error=f"verification failed {iterations} times (the project allows {limit}); "
            f"the task is blocked for a person to retry, edit or abandon.\n\n{report}",
            result={"qa_blocked": True},
        )
        return run
    number = _current_step(run)
    feedback = [*run.payload.get("feedback", [])]
    feedback.append({"after_step": number - 1, "content": verify_feedback(report, iterations)})
    run.payload = {**run.payload, "feedback": feedback}
    run.stage = AgentRun.Stage.CODING
    run.save(update_fields=["payload", "stage", "updated_at"])
    _enqueue_work(run, number)
    return run


def verify_feedback(report: str, iterations: int) -> str:
    """What the agent is told when its work fails the checks."""
    return (
        f"Verification failed (attempt {iterations} at passing the checks). Fix the code so "
        f"that the checks pass, then finish again.\n\n{report}"
    )


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


def run_lease_extend(*, run: AgentRun, seconds: int, now: datetime) -> AgentRun:
    """An external agent's heartbeat: extend the lease on its run by `seconds`."""
    run.heartbeat_at = now
    run.lease_expires_at = now + timedelta(seconds=seconds)
    run.save(update_fields=["heartbeat_at", "lease_expires_at", "updated_at"])
    return run


def run_progress(*, run: AgentRun, lease: timedelta, **result: object) -> AgentRun:
    """Record a one-task run's progress; it is also its heartbeat, so the lease is
    extended by `lease`. A run that ended meanwhile (cancelled) is left alone."""
    run.result = {**run.result, **result}
    run.heartbeat_at = timezone.now()
    run.lease_expires_at = run.heartbeat_at + lease
    AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.RUNNING).update(
        result=run.result, heartbeat_at=run.heartbeat_at, lease_expires_at=run.lease_expires_at
    )
    return run


def run_step_ended(
    *, run: AgentRun, number: int, finished: dict[str, Any] | None, project_status: str
) -> AgentRun:
    """Move a running run on after its step `number` ended (inside the transaction that
    ended the step, which holds the run locked): finish it when the agent said so or
    its turns are used up, pause it at this boundary when its project is paused, or
    else deliver the next step once the transaction commits."""
    if finished is not None:
        summary = finished.get("summary", "")
        if finished.get("outcome", "succeeded") == "succeeded":
            return run_work_done(run=run, summary=summary)
        return run_finish(run=run, succeeded=False, summary=summary)
    if number >= run.payload.get("max_turns", settings.AGENT_MAX_TURNS):
        return run_finish(run=run, succeeded=False, summary="", error=TURN_LIMIT)
    if project_status == Project.Status.PAUSED:
        run.status = AgentRun.Status.QUEUED  # resumes at the next step
        run.result = {**run.result, "next_step": number + 1}
        run.save(update_fields=["status", "result", "updated_at"])
    else:
        _enqueue_step(run, number + 1)
    return run


def _current_step(run: AgentRun) -> int:
    last_done = run.steps.filter(status=AgentStep.Status.DONE).order_by("-number").first()
    return (last_done.number + 1) if last_done else 1


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
    run.save(
        update_fields=["status", "finished_at", "error", "lease_expires_at", "result", "updated_at"]
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
    if run.task_id is None:
        return
    external = run.agent.type == Agent.Type.EXTERNAL
    if run.status == AgentRun.Status.SUCCEEDED:
        # An external agent reports its task done itself; a built-in or CLI agent's
        # work waits for a reviewer (its checks, if any, have passed).
        task_status = Task.Status.DONE if external else Task.Status.REVIEW
    elif run.status == AgentRun.Status.CANCELLED or external:
        task_status = Task.Status.PENDING
    elif run.result.get("qa_blocked"):
        task_status = Task.Status.BLOCKED
    else:
        task_status = Task.Status.FAILED
    planning_services.task_release(
        task_id=run.task_id, status=task_status, agent_id=run.agent_id, held_only=external
    )


def run_still_running(*, run: AgentRun) -> bool:
    """Lock the run (until the caller's transaction ends) and say whether it is still
    running: someone may have cancelled it meanwhile. Its status and error are
    refreshed."""
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
    if run.kind == AgentRun.Kind.TASK:
        _settle(run, now=now)
        dispatch_after_commit(run.project_id)
    return run


@transaction.atomic
def run_fail(*, run_id: int, error: str) -> AgentRun | None:
    """Give up on a built-in run whose step kept failing (the model unreachable after
    retries, a worker that died at every delivery). Returns None when it is not running."""
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
    # The agent first, then the run: the order every other path takes them in.
    agent = Agent.objects.select_for_update().get(pk=run.agent_id)
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


# Retrying ---------------------------------------------------------------------------------


@transaction.atomic
def run_retry(*, run: AgentRun) -> AgentRun:
    """Run a failed run of a built-in agent again from the step that failed.

    Raises ConflictError when the run has not failed, its agent is busy, or its task has
    moved on since; DomainError for runs that cannot be retried here (external agents,
    plan generation) or that used all their turns.
    """
    # Locks in the usual order: the agent, so a dispatch cannot hand it other work
    # meanwhile; then the run; then (below) the task.
    agent = Agent.objects.select_for_update().get(pk=run.agent_id)
    run = AgentRun.objects.select_for_update().get(pk=run.pk)
    run.agent = agent
    if run.status != AgentRun.Status.FAILED:
        raise ConflictError(f"Only a failed run can be retried; run {run.pk} is {run.status}.")
    if run.kind != AgentRun.Kind.TASK or agent.type in Agent.NOT_DISPATCHED_TYPES:
        raise DomainError("Only runs of built-in agents on tasks can be retried here.")
    if run.error == TURN_LIMIT:
        raise DomainError("The run used all its turns; retrying would stop again at once.")
    if run.result.get("qa_blocked"):
        raise DomainError(
            "The run's work failed its checks as often as the project allows; retry, edit or "
            "abandon its task from the inbox instead."
        )
    if agent.status != Agent.Status.IDLE:
        raise ConflictError(f"Agent {agent.name} is busy with other work.")
    if run.task_id is not None:
        _check_task_still_the_runs(run, task_id=run.task_id)
    number = _current_step(run)
    steps = AgentStep.objects.filter(run=run, number=number)
    attempts = steps.values_list("attempts", flat=True).first() or 0
    steps.update(status=AgentStep.Status.RUNNING, error="", finished_at=None)
    now = timezone.now()
    run.status = AgentRun.Status.RUNNING
    run.error = ""
    run.finished_at = None
    # The step gets its retries afresh.
    run.result = {**run.result, ATTEMPTS_AT_RETRY: {"step": number, "attempts": attempts}}
    run.heartbeat_at = now
    run.lease_expires_at = _lease(now)
    run.save()
    if run.task is not None:
        planning_services.task_update(
            task=run.task, data={"status": Task.Status.IN_PROGRESS, "assigned_agent": agent}
        )
    _agent_busy(run, now=now)
    if run.worktree_path:
        run.stage = AgentRun.Stage.CODING
        run.save(update_fields=["stage", "updated_at"])
        _enqueue_work(run, number)
    elif run.stage:
        run.stage = AgentRun.Stage.PREPARING
        run.save(update_fields=["stage", "updated_at"])
        enqueue_on_commit(PREPARE_TASK, run.pk, queue=settings.AGENT_QUEUE)
    else:
        _enqueue_step(run, number)
    return run


def _check_task_still_the_runs(run: AgentRun, *, task_id: int) -> None:
    """Lock the run's task, and raise ConflictError if, since the run failed, someone has
    given it to another agent, closed it, or started it again."""
    task = Task.objects.select_for_update().get(pk=task_id)
    if task.assigned_agent_id not in (None, run.agent_id):
        raise ConflictError(f"Task {task.key} has been given to another agent since.")
    if task.status in (*planning_services.CLOSED_STATUSES, *planning_selectors.STARTED_STATUSES):
        raise ConflictError(
            f"Task {task.key} is {task.get_status_display().lower()} now; "
            "start a new run if it needs more work."
        )
    run.task = task


# Sweeps -----------------------------------------------------------------------------------


def stale_runs_recover(*, now: datetime | None = None) -> int:
    """Re-deliver the current step of built-in runs whose lease ran out without a
    heartbeat (their worker died), and deliver stale plan generations again; returns
    how many steps were re-delivered."""
    now = now or timezone.now()
    stale = AgentRun.objects.filter(
        status=AgentRun.Status.RUNNING, lease_expires_at__lt=now
    ).exclude(agent__type=Agent.Type.EXTERNAL)
    # Plan generation is one task, not a step loop: deliver it again.
    for planning_run_id in stale.filter(kind=AgentRun.Kind.PLANNING).values_list("pk", flat=True):
        enqueue_on_commit(GENERATE_PLAN_TASK, planning_run_id, queue=settings.AGENT_QUEUE)
    # So is one still queued long after it was asked for, whose message was lost on the
    # way (a broker restart, a release that renamed the task): at most once per lease,
    # which marks when it was last delivered. Taking it ignores a queued run's lease.
    lost = AgentRun.objects.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
        kind=AgentRun.Kind.PLANNING,
        status=AgentRun.Status.QUEUED,
        created_at__lt=now - PLANNING_QUEUED_TOO_LONG,
    )
    lost_ids = list(lost.values_list("pk", flat=True))
    AgentRun.objects.filter(pk__in=lost_ids).update(
        lease_expires_at=now + PLANNING_QUEUED_TOO_LONG, updated_at=now
    )
    for planning_run_id in lost_ids:
        enqueue_on_commit(GENERATE_PLAN_TASK, planning_run_id, queue=settings.AGENT_QUEUE)
    stale = stale.filter(kind=AgentRun.Kind.TASK).exclude(
        agent__type__in=Agent.NOT_DISPATCHED_TYPES
    )
    count = 0
    for run in stale:
        with transaction.atomic():
            run = (
                AgentRun.objects.select_for_update(of=("self",))
                .select_related("agent")
                .get(pk=run.pk)
            )
            if (
                run.status != AgentRun.Status.RUNNING
                or not run.lease_expires_at
                or run.lease_expires_at >= now
            ):
                continue
            run.lease_expires_at = _lease(now)
            run.save(update_fields=["lease_expires_at", "updated_at"])
            _redeliver(run)
            count += 1
    return count


def _redeliver(run: AgentRun) -> None:
    """Deliver again the work of the stage a run is at (its worker died)."""
    if run.stage == AgentRun.Stage.PREPARING:
        enqueue_on_commit(PREPARE_TASK, run.pk, queue=settings.AGENT_QUEUE)
    elif run.stage == AgentRun.Stage.VERIFYING:
        enqueue_on_commit(VERIFY_TASK, run.pk, queue=_queue(run))
    else:
        _enqueue_work(run, _current_step(run))


def stale_leases_expire(*, now: datetime | None = None) -> int:
    """Fail the runs of external agents whose lease ran out without a heartbeat.

    Each such run fails with the error "lease expired", its task goes back to pending
    (unassigned) and its agent turns idle; a late completion of the run is then refused.
    Returns how many runs expired. Runs of built-in agents are re-delivered instead
    (`stale_runs_recover`).
    """
    now = now or timezone.now()
    stale = list(
        AgentRun.objects.filter(
            status=AgentRun.Status.RUNNING,
            agent__type=Agent.Type.EXTERNAL,
            lease_expires_at__lt=now,
        ).values_list("pk", "agent_id")
    )
    expired = 0
    for run_id, agent_id in stale:
        # One transaction per run, so a busy row delays only its own run.
        with transaction.atomic():
            list(Agent.objects.select_for_update().filter(pk=agent_id).values_list("pk"))
            run = (
                AgentRun.objects.select_for_update(of=("self",))
                .select_related("agent")
                .filter(pk=run_id, status=AgentRun.Status.RUNNING, lease_expires_at__lt=now)
                .first()
            )
            if run is not None:
                run_expire(run=run, now=timezone.now())
                expired += 1
    return expired
