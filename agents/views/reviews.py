"""A task's review page: the attempt's diff (file tree, unified or split, highlighted),
its checks' output, earlier reviews with their line comments, the comments a person is
writing, and the verdict (approve, request changes, abandon), then the merge.

Comments a person writes are drafts, kept in their session per task and attempt, until
they give a verdict: the review and its comments are then written at once, as the API
writes them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from agents import selectors
from agents.forms import DraftCommentForm, ReviewVerdictForm
from agents.models import AgentRun, Merge, Review, ReviewComment
from agents.services import merges, orchestrator, pull_requests, reviews
from agents.views import review_diff
from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, wants_fragment
from planning import selectors as planning_selectors
from planning.models import Executor, Project, Task

DRAFTS_KEY = "review_drafts"
MAX_DRAFTS = reviews.MAX_COMMENTS


def _task(project: Project, key: str) -> Task:
    task = project.tasks.filter(key=key).select_related("sub_feature", "coded_by").first()
    if task is None:
        raise Http404("No such task.")
    return task


def _drafts_key(task: Task, attempt: AgentRun | None) -> str:
    return f"{task.pk}:{attempt.pk if attempt else 0}"


def _drafts(
    request: AuthenticatedHtmxRequest, task: Task, attempt: AgentRun | None
) -> list[dict[str, Any]]:
    stored = request.session.get(DRAFTS_KEY, {})
    drafts = stored.get(_drafts_key(task, attempt), []) if isinstance(stored, dict) else []
    return [d for d in drafts if isinstance(d, dict)]


def _save_drafts(
    request: AuthenticatedHtmxRequest,
    task: Task,
    attempt: AgentRun | None,
    drafts: list[dict[str, Any]],
) -> None:
    stored = request.session.get(DRAFTS_KEY, {})
    stored = stored if isinstance(stored, dict) else {}
    key = _drafts_key(task, attempt)
    if drafts:
        stored[key] = drafts
    else:
        stored.pop(key, None)
    request.session[DRAFTS_KEY] = stored


def _reviewer_waiting(
    project: Project, task: Task, attempt: AgentRun | None, review_list: list[Review]
) -> str:
    """What the reviewer agent is doing about the task, when the project wants one to
    review it: reviewing, ended without a verdict, or why none can."""
    if project.review == Project.Review.HUMAN or task.status != Task.Status.REVIEW:
        return ""
    if attempt is not None:
        key = reviews.review_run_key(attempt.pk, task.qa_iterations)
        run = selectors.agent_run_by_key(project=project, idempotency_key=key)
        if run is not None and run.status in AgentRun.ACTIVE_STATUSES:
            return f"A reviewer agent is reviewing this attempt (run {run.pk})."
        if run is None:
            return _reviewer_missing(project)
        created = run.created_at
        judged = any(
            r.reviewer_agent_id is not None and r.created_at >= created for r in review_list
        )
        if not judged:
            why = f": {run.error}" if run.error else ""
            return (
                f"The reviewer agent's run {run.pk} ended without a verdict{why}. Review "
                "the work yourself."
            )
        return ""
    return _reviewer_missing(project)


def _reviewer_missing(project: Project) -> str:
    """Why no reviewer agent has taken the task up, if one cannot."""
    reviewers = list(project.agents.filter(type="reviewer").exclude(status="terminated"))
    candidates = [a for a in reviewers if a.executor == Executor.BUILTIN]
    if reviewers and not candidates:
        return (
            "Reviewer agents review with the built-in executor; "
            f"{', '.join(a.name for a in reviewers)} use a coding CLI. Review it yourself."
        )
    if not candidates:
        return (
            "The project is reviewed by a reviewer agent, but it has none: add one, or "
            "review it yourself."
        )
    reasons = {orchestrator.agent_can_work(a, project) for a in candidates}
    if None in reasons:
        return ""
    return "No reviewer agent can review now: " + "; ".join(sorted(r for r in reasons if r))


@login_required
@require_GET
def task_review(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """The review page of a task's latest verified attempt. Non-members get 404."""
    project, membership = planning_selectors.project_for_user(user=request.user, slug=slug)
    task = _task(project, key)
    if wants_fragment(request) and request.htmx.target == "review-merge":
        return _merge_box(request, project, membership.can_write, task)
    attempt = reviews.attempt_for_review(task=task)
    review_list = list(selectors.review_list(task=task)[: selectors.REVIEWS_SHOWN])
    drafts = _drafts(request, task, attempt)
    in_review = task.status == Task.Status.REVIEW
    merge = selectors.merge_latest(task=task)
    diff = review_diff.diff_context(
        request,
        project,
        task,
        attempt,
        review_list,
        drafts,
        merge=merge,
        can_comment=membership.can_write and in_review,
    )
    context = {
        "project": project,
        "membership": membership,
        "can_write": membership.can_write,
        "task": task,
        "attempt": attempt,
        "reviews": review_list,
        "drafts": drafts,
        "merge": merge,
        "checks": selectors.run_checks(run=attempt) if attempt else [],
        "reviewer_waiting": _reviewer_waiting(project, task, attempt, review_list),
        "opens_pull_request": pull_requests.github_remote_enabled(project.repository_url),
        "verdict_form": ReviewVerdictForm(),
        "comment_form": DraftCommentForm(),
        "in_review": in_review,
        "kept": review_diff.kept_query(request.GET),
        **diff,
    }
    page = diff.get("diff")
    if request.htmx and not request.htmx.boosted and page is not None and page.only_path:
        # One collapsed file, opened in place.
        return render(request, "core/_diff.html#diff-file", {**context, "file": page.files[0]})
    return render(request, "agents/task_review.html", context)


def _merge_box(
    request: AuthenticatedHtmxRequest, project: Project, can_write: bool, task: Task
) -> HttpResponse:
    """The merge box, polled while its merge is queued. Once the merge has run, the
    page reloads: the task's status, its diff and the verdict form changed with it."""
    merge = selectors.merge_latest(task=task)
    if merge is None or merge.status != Merge.Status.QUEUED:
        return HttpResponseClientRefresh()
    context = {
        "project": project,
        "task": task,
        "merge": merge,
        "can_write": can_write,
        "in_review": task.status == Task.Status.REVIEW,
    }
    return render(request, "agents/task_review.html#review-merge", context)


def _back(
    request: AuthenticatedHtmxRequest, project: Project, task: Task, anchor: str = ""
) -> HttpResponse:
    url = reverse("agents:task-review", args=[project.slug, task.key])
    kept = review_diff.kept_query(request.POST)
    if kept:
        url = f"{url}?{urlencode(kept)}"
    return redirect(f"{url}#{anchor}" if anchor else url)


@login_required
@require_POST
def review_comment_add(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """Add a draft comment on a line of the diff (writers only)."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, key)
    attempt = reviews.attempt_for_review(task=task)
    form = DraftCommentForm(request.POST)
    drafts = _drafts(request, task, attempt)
    if not form.is_valid():
        messages.error(
            request, "; ".join(str(e) for errors in form.errors.values() for e in errors)
        )
        return _back(request, project, task)
    if len(drafts) >= MAX_DRAFTS:
        messages.error(request, f"A review takes at most {MAX_DRAFTS} comments.")
        return _back(request, project, task)
    data = form.cleaned_data
    drafts.append(
        {"path": data["path"], "line": data["line"], "side": data["side"], "body": data["body"]}
    )
    _save_drafts(request, task, attempt, drafts)
    return _back(
        request, project, task, review_diff.line_anchor(data["path"], data["side"], data["line"])
    )


@login_required
@require_POST
def review_comment_remove(
    request: AuthenticatedHtmxRequest, slug: str, key: str, index: int
) -> HttpResponse:
    """Drop one of the person's draft comments."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, key)
    attempt = reviews.attempt_for_review(task=task)
    drafts = _drafts(request, task, attempt)
    if 0 <= index < len(drafts):
        drafts.pop(index)
        _save_drafts(request, task, attempt, drafts)
    return _back(request, project, task)


@login_required
@require_POST
def review_submit(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """Give a verdict with the draft comments (writers only); nothing is written when the
    review is refused."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, key)
    attempt = reviews.attempt_for_review(task=task)
    form = ReviewVerdictForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, "; ".join(str(e) for errors in form.errors.values() for e in errors)
        )
        return _back(request, project, task)
    drafts = _drafts(request, task, attempt)
    comments = [
        reviews.CommentInput(
            path=str(d.get("path", "")),
            line=int(d.get("line", 0)),
            body=str(d.get("body", "")),
            side=str(d.get("side", ReviewComment.Side.NEW)),
        )
        for d in drafts
    ]
    verdict = form.cleaned_data["verdict"]
    try:
        reviews.review_submit(
            task=task,
            verdict=verdict,
            body=form.cleaned_data["body"],
            comments=comments,
            reviewer=request.user,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back(request, project, task)
    _save_drafts(request, task, attempt, [])
    messages.success(request, _verdict_notice(task, verdict, len(comments)))
    return _back(request, project, task)


def _verdict_notice(task: Task, verdict: str, comments: int) -> str:
    if verdict == "approve":
        return f"You approved {task.key}: it is being merged."
    if verdict == "abandon":
        return f"You abandoned {task.key}; it is cancelled."
    noun = "comment" if comments == 1 else "comments"
    return f"You asked for changes to {task.key} ({comments} {noun}): its agent takes it up again."


@login_required
@require_POST
def review_merge_retry(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """Try a waiting or failed merge again (writers only)."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, key)
    try:
        merge = merges.merge_retry(task=task, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        status = "queued" if merge.status == Merge.Status.QUEUED else merge.status
        messages.success(request, f"Merging {task.key} again ({status}).")
    return _back(request, project, task)
