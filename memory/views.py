"""HTML pages for what a project's agents have learned."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from core.htmx import HtmxHttpRequest, wants_fragment
from memory import selectors
from planning import selectors as planning_selectors

FACTS_PER_PAGE = 25

# ?stale= values the filter understands; anything else shows every fact.
STALE_FILTERS = {"true": True, "false": False}


@login_required
@require_GET
@vary_on_headers("HX-Request")
def fact_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The project's memory facts, filtered by ?stale=true|false. Non-members get 404."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    stale_param = request.GET.get("stale", "")
    facts = selectors.memory_fact_list(project=project, stale=STALE_FILTERS.get(stale_param))
    page_obj = Paginator(facts, FACTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "page_obj": page_obj,
        "stale": stale_param if stale_param in STALE_FILTERS else "",
    }
    template_name = "memory/fact_list.html"
    if wants_fragment(request):
        template_name += "#fact-table"
    return render(request, template_name, context)
