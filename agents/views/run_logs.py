"""A coding run's live output on its page: the log as it grows, the whole log as text,
and the diff its worktree holds so far."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents import selectors
from agents.models import AgentRun, RunLogChunk
from core import git
from core.htmx import AuthenticatedHtmxRequest
from planning import selectors as planning_selectors

# The page opens on the end of the log; the whole of it is a download away.
LOG_TAIL_CHUNKS = 40
LOG_POLL_CHUNKS = 100
DIFF_FILES_SHOWN = 200


def log_context(run: AgentRun) -> dict[str, object]:
    """What the run page shows of the log when it opens: its last chunks."""
    chunks, earlier = selectors.run_log_tail(run=run, chunks=LOG_TAIL_CHUNKS)
    return {
        "log_chunks": chunks,
        "log_earlier": earlier,
        "log_after": chunks[-1].seq if chunks else 0,
        "log_polling": run.status in AgentRun.ACTIVE_STATUSES,
    }


@login_required
@require_GET
def run_log(request: AuthenticatedHtmxRequest, slug: str, run_id: int) -> HttpResponse:
    """The log chunks after `?after=<seq>` (appended to the page's log out of band), and
    the poller that asks for the next ones; polling stops once the run has ended and its
    log has been read to the end."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    run = selectors.agent_run_get(project=project, run_id=run_id)
    try:
        after = max(int(request.GET.get("after", 0)), 0)
    except ValueError:
        after = 0
    chunks = selectors.run_log_chunks(run=run, after_seq=after, limit=LOG_POLL_CHUNKS)
    more = len(chunks) == LOG_POLL_CHUNKS
    context = {
        "project": project,
        "run": run,
        "log_chunks": chunks,
        "log_after": chunks[-1].seq if chunks else after,
        "log_polling": more or run.status in AgentRun.ACTIVE_STATUSES,
        "oob_log": True,
    }
    return render(request, "agents/run_detail.html#run-log-poll", context)


@login_required
@require_GET
def run_log_text(request: AuthenticatedHtmxRequest, slug: str, run_id: int) -> HttpResponseBase:
    """The run's whole log as plain text, streamed chunk by chunk."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    run = selectors.agent_run_get(project=project, run_id=run_id)

    def texts() -> Iterator[str]:
        chunks = RunLogChunk.objects.filter(run=run).order_by("seq").values_list("text")
        for (text,) in chunks.iterator(chunk_size=50):
            yield text

    response = StreamingHttpResponse(texts(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="run-{run.pk}.log"'
    return response


@login_required
@require_GET
def run_diff(request: AuthenticatedHtmxRequest, slug: str, run_id: int) -> HttpResponse:
    """What the run's worktree has changed against its base so far: files and lines."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    run = selectors.agent_run_get(project=project, run_id=run_id)
    context: dict[str, object] = {
        "project": project,
        "run": run,
        "live": run.status in AgentRun.ACTIVE_STATUSES,
    }
    worktree = Path(run.worktree_path) if run.worktree_path else None
    if worktree is None:
        # A coding run's worktree is being made (and set up) until it reaches coding.
        preparing = context["live"] and run.stage == AgentRun.Stage.PREPARING
        context["diff_note"] = (
            "Its worktree is being made and set up." if preparing else "This run has no worktree."
        )
    elif not worktree.is_dir():
        context["diff_note"] = (
            "The worktree is not on this machine"
            + (f" (it is served by {run.worker_queue})" if run.worker_queue else "")
            + ", or it has been removed."
        )
    else:
        base = selectors.run_base_commit(run=run) or project.base_branch
        try:
            changes = git.diff_files(worktree, base)
        except git.GitError as exc:
            context["diff_note"] = exc.message
        else:
            context["diff_files"] = changes[:DIFF_FILES_SHOWN]
            context["diff_more"] = max(len(changes) - DIFF_FILES_SHOWN, 0)
            context["diff_insertions"] = sum(c.insertions for c in changes)
            context["diff_deletions"] = sum(c.deletions for c in changes)
            context["diff_count"] = len(changes)
    return render(request, "agents/run_detail.html#run-diff", context)
