"""Not-found and forbidden pages that keep the reader inside Crewboard: inside a project
they can see, the project's tabs stay, and everywhere there is a way back."""

import re

from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from planning import selectors
from planning.models import Project

# Dashboard URLs name their project as `projects/<slug>/`, under any app prefix.
PROJECT_IN_PATH = re.compile(r"^/(?:[\w-]+/)?projects/(?P<slug>[-\w]+)/")


def _project_in_url(request: HttpRequest) -> Project | None:
    """The project the URL names, only when the reader is a member: a stranger learns
    nothing about which projects exist."""
    match = request.resolver_match
    kwargs = match.kwargs if match else {}
    slug = kwargs.get("slug") or kwargs.get("project_slug")
    if slug is None:
        found = PROJECT_IN_PATH.match(request.path)
        slug = found["slug"] if found else None
    user: User | AnonymousUser = request.user
    if not slug:
        return None
    try:
        project, _membership = selectors.project_for_user(user=user, slug=str(slug))
    except Http404:
        return None
    return project


def _error_page(
    request: HttpRequest, exception: Exception | None, *, status: int, title: str
) -> HttpResponse:
    # API clients get the API's JSON shape, not a page.
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": title}, status=status)
    reason = str(exception) if status == 403 and exception and exception.args else ""
    context = {"project": _project_in_url(request), "title": title, "reason": reason}
    return render(request, "error.html", context, status=status)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error_page(request, exception, status=404, title="Not found")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error_page(request, exception, status=403, title="Not allowed")
