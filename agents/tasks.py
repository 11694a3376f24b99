import logging
import random
import socket
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError

from agents.llm import LLMError
from agents.runtime.steps import step_execute
from agents.services import (
    coding,
    executors,
    merges,
    orchestrator,
    planner,
    review_diffs,
    runs,
    verify,
    workspaces,
)
from agents.services.state import worker_heartbeat_record
from planning.models import Project

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # A step may run agents' commands (each up to AGENT_COMMAND_TIMEOUT_S): the default
    # limits must not cut one short, only catch a worker stuck after it.
    soft_time_limit=max(settings.CELERY_TASK_SOFT_TIME_LIMIT, settings.AGENT_STEP_TIME_LIMIT_S),
    time_limit=max(settings.CELERY_TASK_TIME_LIMIT, settings.AGENT_STEP_TIME_LIMIT_S + 60),
)
def run_step(self: Task[Any, Any], run_id: int, number: int) -> None:
    """One step of an agent run. Idempotent by (run, step). A step that fails (the model
    unreachable, a database error, a misconfiguration, a time limit) is retried with
    backoff and jitter, then the run fails with the error, where a person can see it and
    retry the run."""
    try:
        with runs.run_held_by_worker(run_id=run_id):
            step_execute(run_id=run_id, number=number)
    except Exception as exc:
        if not isinstance(exc, LLMError):
            logger.exception("Step %s of run %s failed", number, run_id)
        if self.request.retries >= settings.AGENT_STEP_MAX_RETRIES:
            error = str(exc) if isinstance(exc, LLMError) else f"{type(exc).__name__}: {exc}"
            runs.run_fail(run_id=run_id, error=f"step {number}: {error}")
            return
        delay = min(60, 2**self.request.retries) + random.uniform(0, 1)
        raise self.retry(exc=exc, countdown=delay) from exc


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.WORKSPACE_SETUP_TIMEOUT_S + 120,
    time_limit=settings.WORKSPACE_SETUP_TIMEOUT_S + 180,
)
def prepare_run(run_id: int) -> None:
    """Make a coding run's worktree on this worker's host (idempotent: a run that is not
    preparing is skipped)."""
    with runs.run_held_by_worker(run_id=run_id):
        coding.run_prepare_execute(run_id=run_id)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    # The CLI has EXECUTOR_TIMEOUT_S; the task's limits (300 s by default) must not cut
    # it short, only catch a worker stuck after it.
    soft_time_limit=settings.EXECUTOR_TIMEOUT_S + 120,
    time_limit=settings.EXECUTOR_TIMEOUT_S + 180,
)
def run_executor(run_id: int) -> None:
    """Run a coding run's CLI in its worktree (idempotent: a run that is not running at
    the coding stage, or whose CLI another delivery is still running, is skipped)."""
    with runs.run_held_by_worker(run_id=run_id):
        executors.executor_attempt_execute(run_id=run_id)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    # Two checks (the task's and the project's), each up to VERIFY_TIMEOUT_S.
    soft_time_limit=2 * settings.VERIFY_TIMEOUT_S + 120,
    time_limit=2 * settings.VERIFY_TIMEOUT_S + 180,
)
def verify_run(run_id: int) -> None:
    """Run a coding run's checks (idempotent: a run that is not verifying is skipped)."""
    with runs.run_held_by_worker(run_id=run_id):
        verify.verify_run_execute(run_id=run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def merge_approved(merge_id: int) -> None:
    """Merge approved work into its base branch on the host holding the repository
    (idempotent: a merge that is no longer on its way is skipped, and one whose commit
    already landed is only recorded)."""
    merges.merge_execute(merge_id=merge_id)


@shared_task(acks_late=True)
def retry_waiting_merges() -> None:
    """Periodic (celery beat): try again the merges waiting for a clean checkout."""
    merges.merges_waiting_retry()


@shared_task(acks_late=True)
def warm_review_diff(run_id: int) -> None:
    """Read a coding attempt that entered review into the cache, its diff's every page
    coloured, so that its reviewer's first view is a fast one (idempotent; a task that
    no longer waits for review on it is skipped)."""
    review_diffs.review_diff_warm(run_id=run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def generate_plan(run_id: int) -> None:
    """Carry out a queued plan-generation run (idempotent: a finished run is skipped)."""
    with runs.run_held_by_worker(run_id=run_id):
        planner.plan_generation_execute(run_id=run_id)


@shared_task(acks_late=True)
def dispatch_project(project_id: int) -> None:
    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        orchestrator.dispatch(project=project)


@shared_task(acks_late=True)
def recover_stale_runs() -> None:
    """Periodic (celery beat): re-deliver steps of built-in runs whose worker died, fence
    external agents whose lease ran out, cancel sent-back runs left waiting in a finished
    project, and dispatch work that became ready without a run ending."""
    runs.stale_runs_recover()
    runs.stale_leases_expire()
    runs.stranded_reopened_cancel()
    orchestrator.dispatch_waiting_work()


@shared_task(acks_late=True)
def sweep_workspaces() -> None:
    """Periodic (celery beat): sweep this host's worktrees, and have every other host
    that holds worktrees sweep its own (through its host queue)."""
    sweep_host_workspaces()
    for queue in workspaces.workspace_host_queues():
        if queue != settings.WORKER_HOST_QUEUE:
            # A host that is gone for good must not pile sweeps up in its queue.
            sweep_host_workspaces.apply_async(queue=queue, expires=settings.WORKSPACE_SWEEP_S)


@shared_task(acks_late=True)
def sweep_host_workspaces() -> None:
    """Forget this host's worktrees whose folders are gone, and remove the ones no active
    run needs (finished tasks, folders left by a crash)."""
    report = workspaces.workspaces_sweep()
    if report.removed or report.orphans:
        logger.info("Workspace sweep removed %s", [*report.removed, *report.orphans])


@shared_task(
    bind=True,
    name="agents.record_worker_heartbeat",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def record_worker_heartbeat(self: "Task[[], None]") -> None:
    # The worker's node name (celery@host) says which worker answered, not just which machine.
    worker_heartbeat_record(hostname=self.request.hostname or socket.gethostname())
