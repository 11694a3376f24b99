"""HTML pages for a project's agents."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents import selectors
from planning import selectors as planning_selectors

AGENTS_PER_PAGE = 25


@login_required
@require_GET
def agent_list(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's agents: what each is doing and when it last acted. Non-members get 404."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    paginator = Paginator(selectors.agent_list(project=project), AGENTS_PER_PAGE)
    page_obj = paginator.get_page(request.GET.get("page"))
    return render(request, "agents/agent_list.html", {"project": project, "page_obj": page_obj})
