"""The diff on a task's review page: which commits it spans, its page of files, and the
comments (written and draft) placed on its lines or shown as outdated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents.forms import DraftCommentForm
from agents.models import AgentRun, Merge, Review
from agents.services import review_diffs, reviews
from core import git
from core.diffview.comments import comments_by_anchor, line_text_at
from core.diffview.pages import DiffFileNotFound, DiffPage, diff_options, diff_page, line_anchor
from core.htmx import AuthenticatedHtmxRequest
from planning import selectors as planning_selectors
from planning.models import Project, Task

__all__ = ["diff_context", "kept_query", "line_anchor", "review_comment_form"]


@dataclass
class ShownComment:
    path: str
    side: str
    line: int
    line_text: str
    body: str
    author_label: str
    draft: bool = False
    outdated: bool = False

    @property
    def anchor(self) -> str:
        return line_anchor(self.path, self.side, self.line)


def kept_query(data: Mapping[str, Any]) -> dict[str, str]:
    """The diff options in `data` (a query string or a form) that differ from the
    default, as query parameters: the page's forms carry them, so that after a comment
    or a verdict the person is back on the page of files and in the view they were."""
    options = diff_options(data)
    kept = {}
    if options.view != "unified":
        kept["view"] = options.view
    if options.ignore_whitespace:
        kept["ws"] = "ignore"
    if options.page > 1:
        kept["page"] = str(options.page)
    return kept


def _shown(
    review_list: Sequence[Review], drafts: Sequence[dict[str, Any]], page: DiffPage
) -> list[ShownComment]:
    files = {f.path: f for f in page.files}
    shown = [
        ShownComment(
            path=c.path,
            side=c.side,
            line=c.line,
            line_text=c.line_text,
            body=c.body,
            author_label=review.reviewer_label,
        )
        for review in reversed(review_list)
        for c in review.comments.all()
    ]
    for draft in drafts:
        path, side, line = str(draft.get("path")), str(draft.get("side")), int(draft.get("line", 0))
        text = line_text_at(files.get(path), side=side, line=line)
        shown.append(
            ShownComment(
                path=path,
                side=side,
                line=line,
                line_text=text or "",
                body=str(draft.get("body", "")),
                author_label="Your draft",
                draft=True,
            )
        )
    return shown


def diff_context(
    request: AuthenticatedHtmxRequest,
    project: Project,
    task: Task,
    attempt: AgentRun | None,
    review_list: Sequence[Review],
    drafts: Sequence[dict[str, Any]],
    *,
    merge: Merge | None,
    can_comment: bool,
) -> dict[str, Any]:
    """What the page's diff needs: the page of files, the view, the comments by line,
    and where the "comment on this line" form comes from (writers, while in review).
    `merge` is the task's latest merge."""
    if attempt is None or not project.root_path:
        return {}
    options = diff_options(request.GET)
    try:
        base, head = review_diffs.review_diff_commits(attempt=attempt, merge=merge)
        page = diff_page(
            project.root_path,
            base,
            head,
            page=options.page,
            ignore_whitespace=options.ignore_whitespace,
            only_path=options.only_path,
        )
    except DiffFileNotFound as exc:
        raise Http404(str(exc)) from exc
    except git.GitError as exc:
        return {"diff_error": f"The diff cannot be read: {exc.message}"}
    shown = _shown(review_list, drafts, page)
    placed = comments_by_anchor(page, shown)
    for key, comments in placed.items():
        for comment in comments:
            comment.outdated = key[2] == 0
    comment_url = ""
    if can_comment:
        comment_url = review_diffs.review_comment_url(project=project, task=task)
    return {
        "diff": page,
        "diff_view": options.view,
        "comments_by_anchor": placed,
        "shown_comments": shown,
        "comment_url": comment_url,
    }


@login_required
@require_GET
def review_comment_form(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """The form to comment on one line (`?path=&side=&line=`), swapped into the page's
    #comment-form (writers only). Without a path the answer is empty: the form's Cancel
    asks for that, and so empties #comment-form."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = project.tasks.filter(key=key).first()
    if task is None or reviews.attempt_for_review(task=task) is None:
        raise Http404("No attempt of this task to comment on.")
    if not request.GET.get("path"):
        return HttpResponse("")
    page_query = QueryDict(urlsplit(request.htmx.current_url or "").query)
    form = DraftCommentForm(
        initial={
            "path": request.GET.get("path", ""),
            "side": request.GET.get("side", "new"),
            "line": request.GET.get("line", ""),
        }
    )
    return render(
        request,
        "agents/task_review.html#comment-form",
        {"project": project, "task": task, "comment_form": form, "kept": kept_query(page_query)},
    )
