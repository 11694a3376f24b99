"""How a run's work reaches a worker: its queue, its lease, and the Celery tasks
that carry each stage."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime, timedelta

from django.conf import settings

from agents.models import Agent, AgentRun, AgentStep
from core.queue import enqueue_on_commit
from planning.models import Executor

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
REVIEW_DIFF_WARM_TASK = "agents.tasks.warm_review_diff"

# The run whose work this thread's worker is carrying out (runs.run_held_by_worker).
_held_by_worker: ContextVar[int | None] = ContextVar("run_held_by_worker", default=None)


def _lease(now: datetime, seconds: float | None = None) -> datetime:
    """A run's lease from `now`: while a worker carries its work out, the worker lease
    that the worker's heartbeat renews (a worker that dies loses it soon); otherwise
    `seconds`, by default AGENT_LEASE_SECONDS, long enough for a message to wait in a
    queue."""
    if _held_by_worker.get() is not None:
        return now + timedelta(seconds=settings.AGENT_WORKER_LEASE_S)
    return now + timedelta(seconds=settings.AGENT_LEASE_SECONDS if seconds is None else seconds)


def queued_resend_after() -> timedelta:
    """How long work stays queued before the sweep sends its message again."""
    return timedelta(seconds=settings.QUEUED_RESEND_S)


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


def _current_step(run: AgentRun) -> int:
    last_done = run.steps.filter(status=AgentStep.Status.DONE).order_by("-number").first()
    return (last_done.number + 1) if last_done else 1
