"""Coding attempts around the run's life: making a run's worktree, and what a person
does with a task whose work kept failing its checks (retry, or abandon it)."""

from __future__ import annotations

import contextlib

from django.contrib.auth.models import User
from django.db import transaction

from agents.models import AgentRun, Workspace
from agents.services import runs, workspaces
from agents.services.logs import decision_record
from agents.services.run_logs import run_log_append
from core import git
from core.errors import ConflictError, DomainError
from planning import services as planning_services
from planning.models import Task


def run_prepare_execute(*, run_id: int) -> AgentRun | None:
    """Make a preparing run's worktree on this worker's host (and run the project's
    setup command there), then start the agent's work. A worktree that cannot be made
    fails the run with the reason. Returns None when the run was not preparing."""
    with transaction.atomic():
        run = runs.run_take_stage(run_id=run_id, stage=AgentRun.Stage.PREPARING)
    if run is None:
        return None
    try:
        workspace = workspaces.workspace_create(run=run)
    except DomainError as exc:
        run_log_append(run_id=run.pk, stream="system", text=f"{exc}\n")
        with transaction.atomic():
            if runs.run_still_running(run=run):
                runs.run_finish(run=run, succeeded=False, summary="", error=str(exc))
        return run
    with transaction.atomic():
        ready = runs.run_take_stage(run_id=run_id, stage=AgentRun.Stage.PREPARING)
        if ready is not None:
            return runs.run_workspace_ready(
                run=ready, worktree_path=workspace.path, branch_name=workspace.branch
            )
    # Cancelled while its worktree was made: nothing will work there.
    workspaces.workspace_remove(workspace=workspace, reason="run cancelled")
    return None


def _blocked_task(task: Task, *, or_in_review: bool = False) -> Task:
    task = Task.objects.select_for_update().get(pk=task.pk)
    allowed = [Task.Status.BLOCKED, Task.Status.FAILED]
    if or_in_review:
        allowed.append(Task.Status.REVIEW)
    if task.status not in allowed:
        expected = "blocked, failed or waiting for review" if or_in_review else "blocked or failed"
        raise ConflictError(f"{task.key} is {task.get_status_display().lower()}, not {expected}.")
    return task


def _remove_workspaces(task: Task, reason: str, *, keep_work: bool = False) -> None:
    for workspace in Workspace.objects.filter(task=task, status=Workspace.Status.ACTIVE):
        if keep_work:
            # Its branch stays: what the agent left uncommitted goes onto it first.
            with contextlib.suppress(git.GitError):
                git.worktree_commit_all(
                    workspace.path, message=f"{task.key}: work left uncommitted when abandoned"
                )
        workspaces.workspace_remove(workspace=workspace, reason=reason)


@transaction.atomic
def task_attempt_retry(*, task: Task, actor: User | None = None) -> Task:
    """Give a blocked (or failed) task a fresh attempt: its QA count starts again, its
    old worktrees go, and it waits for an agent. Raises ConflictError for a task that is
    not blocked or failed."""
    task = _blocked_task(task)
    _remove_workspaces(task, "retried")
    who = getattr(actor, "username", None) or "someone"
    decision_record(
        project=task.project,
        task=task,
        decision=f"{who} retried {task.key} after {task.qa_iterations} failed verifications",
        reasoning={"action": "retry", "qa_iterations": task.qa_iterations, "by": who},
    )
    task = planning_services.task_update(
        task=task,
        data={
            "status": Task.Status.PENDING,
            "qa_iterations": 0,
            "assigned_agent": None,
            "worktree_path": "",
            "branch_name": "",
        },
    )
    runs.dispatch_after_commit(task.project_id)
    return task


@transaction.atomic
def task_abandon(*, task: Task, actor: User | None = None, note: str = "") -> Task:
    """Give up on a blocked, failed or in-review task: it is cancelled and its worktrees
    go (its branch stays, so no work is lost). Raises ConflictError for a task in any
    other state."""
    task = _blocked_task(task, or_in_review=True)
    _remove_workspaces(task, "abandoned", keep_work=True)
    who = getattr(actor, "username", None) or "someone"
    decision_record(
        project=task.project,
        task=task,
        decision=f"{who} abandoned {task.key}: {task.name}",
        reasoning={"action": "abandon", "note": note, "by": who},
    )
    task = planning_services.task_update(
        task=task,
        data={"status": Task.Status.CANCELLED, "worktree_path": "", "branch_name": ""},
    )
    runs.dispatch_after_commit(task.project_id)
    return task
