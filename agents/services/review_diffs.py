"""The diff a review is about: the commits it spans, and its pages read ahead into the
cache when an attempt enters review, so that a reviewer's first view costs what a later
one does (no git process, no lexer) instead of reading and colouring the diff while they
wait. The warming helps the web processes when the cache is one they share (Redis)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.urls import reverse

from agents.models import AgentRun, Merge, Workspace
from agents.selectors import merge_latest
from core import git
from core.diffview.pages import diff_pages
from core.diffview.rows import files_rows_html
from planning.models import Project, Task

logger = logging.getLogger(__name__)

# The view a reviewer's first look is in (the page's default).
WARMED_VIEW = "unified"


def review_diff_commits(*, attempt: AgentRun, merge: Merge | None) -> tuple[str, str]:
    """The commits the attempt's diff spans: from where its worktree started to its
    branch; once merged (its branch gone), to the merge commit. `merge` is the task's
    latest merge (selectors.merge_latest), which a page shows anyway: a merged attempt's
    merge is its task's last. Raises GitError."""
    project = attempt.project
    repo = project.root_path
    if (
        merge is not None
        and merge.run_id == attempt.pk
        and merge.status == Merge.Status.MERGED
        and merge.merge_commit
        and not git.branch_exists(repo, attempt.branch_name)
    ):
        return merge.base_commit, merge.merge_commit
    # Read from the ref files, and the base from the Workspace row: no git process. After
    # a round of changes the agent may have merged the base branch in (a conflict is sent
    # back so): the diff then starts where the two meet, not at the work's first base.
    head = git.branch_head(repo, attempt.branch_name)
    base = Workspace.objects.filter(run=attempt).values_list("base_commit", flat=True).first()
    if not base or (attempt.task is not None and attempt.task.qa_iterations):
        base = git.git("merge-base", project.base_branch, head, cwd=repo)
    return base, head


def review_comment_url(*, project: Project, task: Task) -> str:
    """Where the diff's "comment on this line" buttons fetch their form. It is part of
    the rows' HTML, and so of what the cache keeps them under: the page and the warming
    must agree on it."""
    return reverse("agents:review-comment-form", args=[project.slug, task.key])


def _no_threads(comments: Sequence[Any], outdated: bool) -> str:
    return ""  # rows with comments are never cached, so never warmed


def review_diff_warm(*, run_id: int) -> int:
    """Read every page of the diff of run `run_id`'s attempt into the cache, coloured,
    with its rows as a writer first sees them (unified, with comment buttons). Returns
    the number of pages; 0 when the run's task no longer waits for review on it, or git
    cannot read its commits (the page then reads the diff itself, and says why)."""
    attempt = (
        AgentRun.objects.select_related("project", "task")
        .filter(pk=run_id, status=AgentRun.Status.SUCCEEDED, kind=AgentRun.Kind.TASK)
        .exclude(branch_name="")
        .first()
    )
    task = attempt.task if attempt is not None else None
    if attempt is None or task is None or task.status != Task.Status.REVIEW:
        return 0
    project = attempt.project
    if not project.root_path:
        return 0
    comment_url = review_comment_url(project=project, task=task)
    count = 0
    try:
        base, head = review_diff_commits(attempt=attempt, merge=merge_latest(task=task))
        for page in diff_pages(project.root_path, base, head):
            files_rows_html(
                page.files, view=WARMED_VIEW, comment_url=comment_url, render_thread=_no_threads
            )
            count += 1
    except git.GitError as exc:
        logger.warning("The diff of run %s was not read ahead: %s", run_id, exc.message)
    return count
