"""A coding run's stages: its worktree ready, the work done, the checks' outcome, and
what follows a step."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.models import AgentRun
from agents.services.runs.delivery import (
    TURN_LIMIT,
    VERIFY_TASK,
    _current_step,
    _enqueue_step,
    _enqueue_work,
    _lease,
    _queue,
)
from agents.services.runs.ending import run_finish
from agents.services.runs.locks import run_agent_lock
from core.queue import enqueue_on_commit
from planning import services as planning_services
from planning.models import Project

# Coding stages ----------------------------------------------------------------------------


def run_take_stage(*, run_id: int, stage: str) -> AgentRun | None:
    """Lock a running run at `stage` for the work of that stage and renew its lease
    (inside the caller's transaction); None when it is no longer running at that stage
    (cancelled, finished, or moved on by an earlier delivery)."""
    # The agent first: the stage may end the run, which frees its agent.
    run_agent_lock(run_id=run_id)
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
