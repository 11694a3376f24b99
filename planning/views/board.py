"""The board: a project's tasks in columns by status, with filters kept in the URL, a
page per column ("Show more"), and moves between columns by drag, keyboard or a plain
form."""

import hashlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control
from django.views.decorators.http import condition, require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, wants_fragment
from planning import board, selectors, services
from planning.forms import TaskStatusForm
from planning.models import Project, Task
from planning.views import live

TEMPLATE = "planning/board.html"


def _board_etag(request: AuthenticatedHtmxRequest, slug: str) -> str | None:
    """The live columns' ETag: the plan's change stamp and the board's filters. A page of
    one column ("Show more") has none."""
    if "column" in request.GET:
        return None
    shown = ",".join(f"{slug}:{n}" for slug, n in _shown(request).items())
    query = hashlib.blake2b(f"{_filter_query(request)}|{shown}".encode(), digest_size=6)
    return live.live_etag(request, slug, "board", query.hexdigest())


@login_required
@require_GET
@vary_on_headers("HX-Request")
@cache_control(private=True, no_cache=True)
@condition(etag_func=_board_etag)
def project_board(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The board. `?column=<slug>&page=<n>` names one column's page: htmx gets those
    cards alone (`#column-cards`), to append under the ones shown; a plain request the
    whole board with that column at that page. htmx without a column gets the columns
    again (`#board-live`), or 304 when nothing changed; `?shown=todo:3` (a live refresh
    names the columns opened with "Show more") gives those columns their first 3 pages,
    so a refresh folds nothing the reader opened."""
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    filterset, tasks = board.board_tasks(project, request.GET)
    column_slug = request.GET.get("column", "")
    page = request.GET.get("page")
    query = _filter_query(request)
    context = {
        "project": project,
        "can_write": membership.can_write,
        "status_choices": board.MOVE_CHOICES,
        "filter_query": query,
        "cards_per_page": board.CARDS_PER_PAGE,
    }
    if column_slug and column_slug not in board.COLUMN_BY_SLUG:
        raise Http404("No such column.")
    if column_slug and wants_fragment(request):
        spec = board.COLUMN_BY_SLUG[column_slug]
        column = board.column_page(tasks, spec, page, total=board.column_total(tasks, spec))
        return render(request, f"{TEMPLATE}#column-cards", {**context, "column": column})
    pages = {column_slug: page} if column_slug else {}
    context["columns"] = board.board_columns(tasks, pages, _shown(request))
    if wants_fragment(request):
        return render(request, f"{TEMPLATE}#board-live", context)
    context |= {
        "filterset": filterset,
        "agents": board.agent_choices(project),
        "priority_choices": Task.Priority.choices,
    }
    return render(request, TEMPLATE, context)


@login_required
@require_POST
def task_move(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """Move a task's card to another column (`status`). htmx gets the card again, or 409
    with the reason the move is forbidden (the page puts the card back); a plain form is
    sent back to the board (`next`) with the outcome as a message."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = get_object_or_404(Task, project=project, key=key)
    form = TaskStatusForm(request.POST)
    error = None
    if form.is_valid():
        try:
            services.task_move(task=task, status=form.cleaned_data["status"])
        except DomainError as exc:
            error, status = exc.message, exc.status_code
        except ValidationError as exc:
            error, status = " ".join(exc.messages), 400
    else:
        error, status = " ".join(str(m) for m in form.errors["status"]), 400
    if wants_fragment(request):
        if error:
            return HttpResponse(error, status=status, content_type="text/plain; charset=utf-8")
        response = _card_response(request, project, key)
        trigger_client_event(response, "plan-changed")
        return response
    if error:
        messages.error(request, error)
    else:
        label = board.column_of(form.cleaned_data["status"]).label
        messages.success(request, f"{key} moved to {label}.")
    return redirect(_next_url(request, project))


def _card_response(request: AuthenticatedHtmxRequest, project: Project, key: str) -> HttpResponse:
    task = get_object_or_404(board.card_rows(project.tasks.all()), key=key)
    context = {
        "project": project,
        "task": task,
        "can_write": True,
        "status_choices": board.MOVE_CHOICES,
        "filter_query": "",
    }
    return render(request, f"{TEMPLATE}#card", context)


def _filter_query(request: AuthenticatedHtmxRequest) -> str:
    params = request.GET.copy()
    for name in ("column", "page", "shown"):
        params.pop(name, None)
    return params.urlencode()


def _shown(request: AuthenticatedHtmxRequest) -> dict[str, int]:
    return board.shown_pages(request.GET.get("shown", ""))


def _next_url(request: AuthenticatedHtmxRequest, project: Project) -> str:
    board_url = reverse("planning:project-board", args=[project.slug])
    next_url = request.POST.get("next", "")
    if next_url.startswith(board_url) and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return board_url
