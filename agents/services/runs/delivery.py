"""How a run's work reaches a worker: its queue, its lease, and the Celery tasks
that carry each stage."""

from __future__ import annotations

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


def _current_step(run: AgentRun) -> int:
    last_done = run.steps.filter(status=AgentStep.Status.DONE).order_by("-number").first()
    return (last_done.number + 1) if last_done else 1
