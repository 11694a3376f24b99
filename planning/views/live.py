"""The live parts of a project's pages. The project header, on every page of the project,
asks for its status and what agents are doing every few seconds while work goes on
(static/js/live.js); the board and the plan's summary ask again when it says something
changed. Each answer carries the plan's change stamp as its ETag, so an unchanged
project answers 304 after one query (the session comes from the cache)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import condition, require_GET
from django_htmx.http import trigger_client_event

from core.htmx import AuthenticatedHtmxRequest, wants_fragment
from planning import outline, page_statements, selectors

# How often a live page asks whether anything changed.
POLL_SECONDS = 5
# What a live part's answer fires when it found a change: the page's other live parts
# (the board, the plan's summary) ask for theirs.
CHANGED_EVENT = "live-changed"


def live_etag(request: AuthenticatedHtmxRequest, slug: str, *parts: str) -> str | None:
    """A live fragment's ETag: the plan's change stamp, mixed with the user's role (one
    query, which also checks membership), and `parts` saying which fragment with which
    parameters. A whole page has none; a stranger none either (the view answers 404)."""
    if not wants_fragment(request):
        return None
    stamp = page_statements.plan_stamp_for_user(user=request.user, slug=slug)
    if stamp is None:
        return None
    return '"' + "-".join([stamp, *parts]) + '"'


def announce_change(request: AuthenticatedHtmxRequest, response: HttpResponse) -> HttpResponse:
    """Tell the page's other live parts to look again, when this answer comes to a poll
    that had seen an older state (not to a part's first load)."""
    if request.headers.get("If-None-Match"):
        trigger_client_event(response, CHANGED_EVENT)
    return response


def _header_etag(request: AuthenticatedHtmxRequest, slug: str) -> str | None:
    return live_etag(request, slug, "header")


@login_required
@require_GET
@cache_control(private=True, no_cache=True)
@condition(etag_func=_header_etag)
def project_live(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The project header's live part (`#project-live`): the project's status and how many
    tasks are being coded, verified and waiting for review. It asks again every few
    seconds while the project is live, and stops in the answer that finds it idle."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug)
    counts = outline.plan_counts(project=project)
    # Names of their own: the pages that include the header have their own counts.
    context = {
        "project": project,
        "live_counts": counts,
        "live_poll": POLL_SECONDS if outline.is_live(project, counts) else None,
    }
    response = render(request, "includes/project_nav.html#project-live", context)
    return announce_change(request, response)
