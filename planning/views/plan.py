"""The plan page's parts opened on demand: a feature's sub-features and a group's tasks,
a page at a time, as htmx fragments."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from core.htmx import AuthenticatedHtmxRequest
from planning import outline, selectors
from planning.models import Task
from planning.views.project_page import feature_body_context, task_group_page

TEMPLATE = "planning/project_detail.html"


@login_required
@require_GET
def plan_feature(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    """A feature opened: a page (`?page=`) of its sub-features, collapsed, and its tasks
    outside any sub-feature (`#feature-body`)."""
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    feature = get_object_or_404(outline.feature_outline(project=project), pk=pk)
    outline.with_counts([feature])
    context = {
        "project": project,
        "can_write": membership.can_write,
        **feature_body_context(project, feature, request.GET.get("page")),
    }
    return render(request, f"{TEMPLATE}#feature-body", context)


@login_required
@require_GET
def plan_tasks(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """A page (`?page=`) of one group's tasks, with their status controls (`#task-group`):
    a sub-feature's (`?sub_feature=<id>`), a feature's outside any sub-feature
    (`?feature=<id>`) or the tasks outside any feature (`?unassigned=1`)."""
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    kind, pk = _group(request)
    context = {
        "project": project,
        "can_write": membership.can_write,
        "status_choices": Task.Status.choices,
        "group": task_group_page(project, kind, pk, request.GET.get("page")),
    }
    return render(request, f"{TEMPLATE}#task-group", context)


def _group(request: AuthenticatedHtmxRequest) -> tuple[str, int | None]:
    for kind in (outline.GROUP_SUB_FEATURE, outline.GROUP_FEATURE):
        value = request.GET.get(kind)
        if value is not None:
            if not value.isdigit():
                raise Http404("No such group of tasks.")
            return kind, int(value)
    if request.GET.get(outline.GROUP_UNASSIGNED):
        return outline.GROUP_UNASSIGNED, None
    raise Http404("Name a sub_feature, a feature or unassigned.")
