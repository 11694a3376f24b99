"""Search across a project's tool calls by tool, status and text."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from agents import selectors
from agents.filters import ToolCallFilterSet
from core.htmx import AuthenticatedHtmxRequest, wants_fragment
from planning import selectors as planning_selectors

CALLS_PER_PAGE = 50


@login_required
@require_GET
@vary_on_headers("HX-Request")
def tool_call_search(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The project's tool calls, newest first, filtered by `tool_name`, `status` and `q`
    (the API's filters) and paginated. htmx requests get `#tool-call-results` only."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    filters = ToolCallFilterSet(request.GET, queryset=selectors.tool_call_list(project=project))
    calls = filters.qs if filters.is_valid() else selectors.tool_call_list(project=project).none()
    page_obj = Paginator(calls, CALLS_PER_PAGE).get_page(request.GET.get("page"))
    template_name = "agents/tool_call_list.html"
    if wants_fragment(request):
        template_name += "#tool-call-results"
    context = {
        "project": project,
        "filters": filters,
        "page_obj": page_obj,
        "statuses": [("", "Any status"), *filters.filters["status"].extra["choices"]],
    }
    return render(request, template_name, context)
