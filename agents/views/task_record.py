"""A task's record on its page: what agents did on it, loaded into the planning app's task
page after it opens (planning names no agents' model)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from agents.task_record import task_record
from core.htmx import AuthenticatedHtmxRequest
from planning import selectors as planning_selectors
from planning.models import Task


@login_required
@require_GET
def task_record_view(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """The task's runs (with links to their pages), latest tool calls (with a link to the
    search of all of them), decisions, reviews, merges and history (`#task-record`)."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    task = get_object_or_404(Task, project=project, key=key)
    context = {"project": project, "task": task, "record": task_record(task=task)}
    return render(request, "agents/task_record.html", context)
