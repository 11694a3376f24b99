"""HTML pages for what a project's agents have learned."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from core.htmx import AuthenticatedHtmxRequest, wants_fragment
from memory import selectors
from memory.filters import MemoryFactFilterSet
from planning import selectors as planning_selectors

FACTS_PER_PAGE = 25

# The filter's select shows these for the FilterSet's is_stale: True, False, None (all).
STALE_CHOICES = {True: "true", False: "false", None: ""}


@login_required
@require_GET
@vary_on_headers("HX-Request")
def fact_list(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The project's memory facts, filtered by ?stale=true|false through the API's
    MemoryFactFilterSet (the page's `stale` is its `is_stale`). Non-members get 404."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    filterset = MemoryFactFilterSet(
        {"is_stale": request.GET.get("stale", "")},
        queryset=selectors.memory_fact_list(project=project),
    )
    page_obj = Paginator(filterset.qs, FACTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "page_obj": page_obj,
        "stale": STALE_CHOICES[filterset.form.cleaned_data["is_stale"]],
    }
    template_name = "memory/fact_list.html"
    if wants_fragment(request):
        template_name += "#fact-table"
    return render(request, template_name, context)
