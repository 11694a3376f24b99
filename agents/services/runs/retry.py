"""Retrying a failed run of a built-in agent from the step that failed."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.models import Agent, AgentRun, AgentStep
from agents.services.runs.delivery import (
    ATTEMPTS_AT_RETRY,
    PREPARE_TASK,
    TURN_LIMIT,
    _agent_busy,
    _current_step,
    _enqueue_step,
    _enqueue_work,
    _lease,
)
from core.errors import ConflictError, DomainError
from core.queue import enqueue_on_commit
from planning import selectors as planning_selectors
from planning import services as planning_services
from planning.models import Task


@transaction.atomic
def run_retry(*, run: AgentRun) -> AgentRun:
    """Run a failed run of a built-in agent again from the step that failed.

    Raises ConflictError when the run has not failed, its agent is busy, its task has
    moved on since, or another task in progress names one of its task's files (two tasks
    changing one file are never in progress at once, as claims ensure); DomainError for
    runs that cannot be retried here (external agents, plan generation) or that used all
    their turns.
    """
    # Locks in the usual order: the agent, so a dispatch cannot hand it other work
    # meanwhile; then the run; then (below) the task.
    agent = Agent.objects.select_for_update(no_key=True).get(pk=run.agent_id)
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
        task = _check_task_still_the_runs(run, task_id=run.task_id)
        _check_no_other_run(run, task=task)
        _check_files_free(task)
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


def _check_no_other_run(run: AgentRun, *, task: Task) -> None:
    """Raise ConflictError when another run of the task is under way or waiting (a later
    attempt sent back by a review, say): a task has one live run at a time."""
    other = (
        AgentRun.objects.filter(task=task, status__in=AgentRun.ACTIVE_STATUSES)
        .exclude(pk=run.pk)
        .values_list("pk", flat=True)
        .first()
    )
    if other is not None:
        raise ConflictError(
            f"Task {task.key} has another run under way "
            f"(run {other}); retry this one only once that run has ended."
        )


def _check_files_free(task: Task) -> None:
    """Take the task's files for its retried run, as a claim does (locked until the
    transaction ends), or raise ConflictError when a task in progress names one of them."""
    if not planning_services.task_files_reserve(
        project_id=task.project_id, task_id=task.pk, files=task.files
    ):
        raise ConflictError(
            f"Another task in progress names one of task {task.key}'s files; "
            "retry the run once that task is done."
        )


def _check_task_still_the_runs(run: AgentRun, *, task_id: int) -> Task:
    """Lock the run's task and return it (set on the run too), or raise ConflictError if,
    since the run failed, someone has given it to another agent, closed it, or started it
    again."""
    task = Task.objects.select_for_update().get(pk=task_id)
    if task.assigned_agent_id not in (None, run.agent_id):
        raise ConflictError(f"Task {task.key} has been given to another agent since.")
    if task.status in (*planning_services.CLOSED_STATUSES, *planning_selectors.STARTED_STATUSES):
        raise ConflictError(
            f"Task {task.key} is {task.get_status_display().lower()} now; "
            "start a new run if it needs more work."
        )
    run.task = task
    return task
