"""The one owner of a merge's life: approved work on its way to the base branch.

```
  queued ──▶ merged            (task done, worktree removed, branch deleted unless kept,
    │  ▲                        merge commit recorded, checkpoint taken)
    │  └── waiting ◀─┐         (the user's checkout of the base branch has local
    ├────────────────┘          changes: nothing moved; tried again by the sweep)
    ├──▶ conflicted            (nothing moved; the attempt goes back to its agent to
    │                           rebase, or to a person at the QA limit)
    ├──▶ failed                (the branch is gone, or the base kept moving: the task
    │                           stays in review, where a person can merge it again)
    └──▶ pull_request          (a GitHub remote with a token: pushed and proposed there)
```
The merge is computed off the user's checkout (core.git.merges), with the message,
author and checks of agents/services/merge_commits.py; the base branch then moves by
compare-and-swap, and a checkout of it that is clean moves with it as a fast-forward
would. Merges into one repository take its lock, so two approved tasks land one after
the other, each against the new base.

A redelivered merge never lands twice: the commit is recorded before the base branch
moves, and a merge whose recorded commit is already on the base is only finished.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, AgentRun, Merge
from agents.services import pull_requests, runs, workspaces
from agents.services.checkpoints import checkpoint_snapshot
from agents.services.logs import decision_record
from agents.services.merge_commits import (
    CREWBOARD,
    merge_author,
    merge_head_check,
    merge_landed,
    merge_message,
    merge_tidy,
)
from core import git
from core.errors import ConflictError, DomainError
from core.queue import enqueue_on_commit
from planning import services as planning_services
from planning.models import Task

logger = logging.getLogger(__name__)

MERGE_TASK = "agents.tasks.merge_approved"
# How long a merge taken up by a worker is its: another delivery of it waits that long.
MERGE_LEASE = timedelta(minutes=10)


def merge_request(
    *,
    task: Task,
    run: AgentRun,
    head_commit: str = "",
    by: User | None = None,
    agent: Agent | None = None,
) -> Merge:
    """Queue the merge of an approved attempt's branch (inside the caller's transaction;
    the merge runs on the worker of the host holding the repository once it commits).
    A task with a merge on its way gets that one back."""
    open_merge = Merge.objects.filter(task=task, status__in=Merge.OPEN_STATUSES).first()
    if open_merge is not None:
        return open_merge
    project = task.project
    merge = Merge.objects.create(
        project=project,
        task=task,
        run=run,
        strategy=project.merge_strategy,
        branch=run.branch_name,
        base_branch=project.base_branch,
        head_commit=head_commit,
        merged_by=by,
        merger_agent=agent,
    )
    _enqueue(merge, run)
    return merge


def _enqueue(merge: Merge, run: AgentRun | None) -> None:
    queue = (run.worker_queue if run is not None else "") or settings.AGENT_QUEUE
    enqueue_on_commit(MERGE_TASK, merge.pk, queue=queue)


@transaction.atomic
def merge_retry(*, task: Task, by: User | None = None) -> Merge:
    """Try again a merge that waited or failed (a person asked, or the sweep). Raises
    ConflictError when the task has no merge to try again."""
    task = Task.objects.select_for_update().select_related("project").get(pk=task.pk)
    if task.status != Task.Status.REVIEW:
        raise ConflictError(f"{task.key} is {task.get_status_display().lower()}, not in review.")
    last = Merge.objects.filter(task=task).select_related("run").order_by("-created_at").first()
    if last is None or last.status in (Merge.Status.MERGED, Merge.Status.CONFLICTED):
        raise ConflictError(f"{task.key} has no merge waiting or failed to try again.")
    if last.status in Merge.OPEN_STATUSES:
        _enqueue(last, last.run)
        return last
    assert last.run is not None
    return merge_request(
        task=task,
        run=last.run,
        head_commit=last.head_commit,
        by=by or last.merged_by,
        agent=last.merger_agent,
    )


def merges_waiting_retry(*, now: datetime | None = None) -> int:
    """Queue again every merge waiting for a checkout to be clean, and every queued one
    that no worker has taken up for a lease (its message lost, its worker dead; celery
    beat)."""
    stale = (now or timezone.now()) - MERGE_LEASE
    waiting = list(
        Merge.objects.filter(
            Q(status=Merge.Status.WAITING) | Q(status=Merge.Status.QUEUED, updated_at__lt=stale)
        ).select_related("run")
    )
    with transaction.atomic():
        for merge in waiting:
            _enqueue(merge, merge.run)
    return len(waiting)


# Carrying it out ----------------------------------------------------------------------------


def merge_execute(*, merge_id: int) -> Merge | None:
    """Carry out a queued (or waiting) merge on this worker's host; idempotent. Returns
    None when the merge is no longer on its way."""
    with transaction.atomic():
        merge = _take(merge_id)
        if merge is None:
            return None
    project = merge.project
    try:
        repo, _ = workspaces.project_repository(project)
        if pull_requests.github_remote_enabled(project.repository_url):
            return _propose(merge, repo)
        if merge.merge_commit and merge_landed(repo, merge):
            return _finish(merge, repo)
        return _merge(merge, repo)
    except git.MergeConflict as conflict:
        return _conflicted(merge, conflict.paths)
    except (DomainError, git.GitError, pull_requests.GitHubError) as exc:
        return _fail(merge, str(exc))
    except Exception as exc:
        # Never left queued for ever: a person sees why, and can merge it again.
        logger.exception("Merge %s failed", merge.pk)
        return _fail(merge, f"The merge stopped on an unexpected error: {exc!r}")


def _take(merge_id: int) -> Merge | None:
    merge = (
        Merge.objects.select_for_update(of=("self",))
        .select_related("project", "task", "run", "run__agent")
        .filter(pk=merge_id)
        .first()
    )
    if merge is None or merge.status not in Merge.OPEN_STATUSES:
        return None
    taken_recently = merge.updated_at > timezone.now() - MERGE_LEASE
    if merge.status == Merge.Status.QUEUED and merge.attempts and taken_recently:
        return None  # another delivery is at it
    # Queued while under way: a review can withdraw a waiting merge, never a running one.
    merge.status = Merge.Status.QUEUED
    merge.attempts += 1
    merge.save(update_fields=["status", "attempts", "updated_at"])
    return merge


def merge_withdraw(*, task: Task, reason: str) -> None:
    """Call off the task's merge waiting for a clean checkout (a later review asked for
    changes, or abandoned the work), inside the caller's transaction. Raises
    ConflictError while a merge is queued or under way: it may be landing."""
    for merge in Merge.objects.select_for_update().filter(
        task=task, status__in=Merge.OPEN_STATUSES
    ):
        if merge.status == Merge.Status.QUEUED:
            raise ConflictError(
                f"{task.key} is being merged; wait for the merge to finish before reviewing "
                "it again."
            )
        merge.status = Merge.Status.FAILED
        merge.message = reason
        merge.finished_at = timezone.now()
        merge.save(update_fields=["status", "message", "finished_at", "updated_at"])


def _merge(merge: Merge, repo: Path) -> Merge:
    if not git.branch_exists(repo, merge.branch):
        return _fail(
            merge,
            f"Branch {merge.branch} no longer exists in {repo} (deleted by hand?): nothing "
            "was merged. Request changes to have the work done again, or abandon the task.",
        )
    merge_head_check(merge, repo)
    for attempt in (1, 2):
        result = git.merge_commit_create(
            repo,
            base=merge.base_branch,
            branch=merge.branch,
            strategy=merge.strategy,  # type: ignore[arg-type]  # the model's constraint
            message=merge_message(merge),
            author=merge_author(merge),
            committer=CREWBOARD,
        )
        _record_candidate(merge, result.base, result.branch, result.commit)
        try:
            advance = git.base_advance(
                repo,
                base=merge.base_branch,
                old=result.base,
                new=result.commit,
                reflog=f"Crewboard: {merge.strategy} {merge.branch} ({merge.task.key})",
            )
        except git.BaseMoved:
            if attempt == 2:
                return _fail(
                    merge,
                    f"{merge.base_branch} moved twice while the merge was being made: "
                    "someone is committing to it. Merge again when it is quiet.",
                )
            continue
        if advance.outcome == "waiting":
            return _wait(merge, advance.reason)
        return _finish(merge, repo)
    raise AssertionError("unreachable")  # pragma: no cover


def _record_candidate(merge: Merge, base_commit: str, head_commit: str, commit: str) -> None:
    with transaction.atomic():
        Merge.objects.filter(pk=merge.pk).update(
            base_commit=base_commit,
            head_commit=head_commit,
            merge_commit=commit,
            updated_at=timezone.now(),
        )
    merge.base_commit, merge.head_commit, merge.merge_commit = base_commit, head_commit, commit


def _still_open(merge: Merge) -> Merge | None:
    locked = Merge.objects.select_for_update().filter(pk=merge.pk).first()
    if locked is None or locked.status not in Merge.OPEN_STATUSES:
        return None
    return locked


@transaction.atomic
def _wait(merge: Merge, reason: str) -> Merge:
    if (locked := _still_open(merge)) is None:
        return merge
    locked.status = Merge.Status.WAITING
    locked.message = reason
    locked.merge_commit = ""
    locked.save(update_fields=["status", "message", "merge_commit", "updated_at"])
    return locked


@transaction.atomic
def _fail(merge: Merge, reason: str) -> Merge:
    if (locked := _still_open(merge)) is None:
        return merge
    locked.status = Merge.Status.FAILED
    locked.message = reason
    locked.merge_commit = ""
    locked.finished_at = timezone.now()
    locked.save(update_fields=["status", "message", "merge_commit", "finished_at", "updated_at"])
    decision_record(
        project=merge.project,
        task=merge.task,
        decision=f"merging {merge.task.key} failed",
        reasoning={"merge": merge.pk, "reason": reason},
    )
    return locked


def _conflicted(merge: Merge, paths: list[str]) -> Merge:
    with transaction.atomic():
        if (locked := _still_open(merge)) is None:
            return merge
        locked.status = Merge.Status.CONFLICTED
        locked.conflicts = paths
        locked.message = f"{merge.branch} conflicts with {merge.base_branch} in " + ", ".join(paths)
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "conflicts", "message", "finished_at", "updated_at"])
        if merge.run is not None:
            # Back to its agent to rebase (a QA iteration; a person at the limit).
            with contextlib.suppress(ConflictError):
                runs.run_changes_requested(
                    run_id=merge.run.pk, feedback=_rebase_feedback(merge, paths)
                )
    return locked


def _rebase_feedback(merge: Merge, paths: list[str]) -> str:
    listed = "\n".join(f"- {p}" for p in paths)
    return (
        f"Your branch {merge.branch} no longer merges cleanly into {merge.base_branch}: "
        f"these files conflict:\n{listed}\n\nBring your work up to date with "
        f"{merge.base_branch} (rebase or merge it into your branch with the git tools, "
        "resolving the conflicts), make sure the checks pass, commit, and finish again."
    )


def _finish(merge: Merge, repo: Path) -> Merge:
    with transaction.atomic():
        if (locked := _still_open(merge)) is None:
            return merge
        now = timezone.now()
        locked.status = Merge.Status.MERGED
        locked.message = ""
        locked.finished_at = now
        locked.save(update_fields=["status", "message", "finished_at", "updated_at"])
        planning_services.task_merged(
            task_id=merge.task_id,
            merge_commit=merge.merge_commit,
            merged_by_id=merge.merged_by_id,
            merged_by_agent_id=merge.merger_agent_id,
        )
        decision_record(
            project=merge.project,
            task=merge.task,
            decision=f"merged {merge.task.key} into {merge.base_branch} ({merge.strategy})",
            reasoning={"merge": merge.pk, "commit": merge.merge_commit, "branch": merge.branch},
        )
        checkpoint_snapshot(
            project=merge.project,
            name=f"merged {merge.task.key}",
            reason=f"{merge.task.key} merged into {merge.base_branch} at {merge.merge_commit[:12]}",
        )
        runs.dispatch_after_commit(merge.project_id)
    merge_tidy(locked, repo)
    return locked


def _propose(merge: Merge, repo: Path) -> Merge:
    """Push the branch and open (or find) its pull request, instead of merging here."""
    merge_head_check(merge, repo)
    request = pull_requests.pull_request_for_branch(
        project_repository_url=merge.project.repository_url,
        repo_path=repo,
        branch=merge.branch,
        base=merge.base_branch,
        title=f"{merge.task.key}: {merge.task.name}",
        body=merge_message(merge),
    )
    with transaction.atomic():
        if (locked := _still_open(merge)) is None:
            return merge
        locked.status = Merge.Status.PULL_REQUEST
        locked.pull_request_url = request.url
        locked.message = f"Pull request #{request.number} opened: merge it on GitHub."
        locked.finished_at = timezone.now()
        locked.save(
            update_fields=["status", "pull_request_url", "message", "finished_at", "updated_at"]
        )
    return locked
