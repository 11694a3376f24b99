"""Editing the plan's tasks from its page: adding one to a group, editing, moving and
deleting it, each through a planning service, with the forms of
planning.views.plan_forms. Editors and owners only: a viewer gets 403."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from core.htmx import AuthenticatedHtmxRequest, wants_fragment
from planning import outline, selectors, services
from planning.forms import PlanTaskForm
from planning.models import Feature, Project, SubFeature, Task
from planning.services import plan_edits
from planning.views.plan_forms import (
    FormPage,
    delete_view,
    feature_or_404,
    fields_of,
    form_view,
    move_view,
    next_position,
    plan_url,
    sub_feature_or_404,
)

TASK_FIELDS = ("key", "name", "description", "type", "priority", "size")


def _task(project: Project, pk: int) -> Task:
    return get_object_or_404(project.tasks.select_related("project"), pk=pk)


def _task_done_url(project: Project, task: Task) -> str:
    return plan_url(project, task=task)


@login_required
@require_http_methods(["GET", "POST"])
def task_add(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Add a task at the end of a group: `?sub_feature=<id>`, `?feature=<id>` (outside
    any sub-feature) or `?unassigned=1` (outside any feature)."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    feature, sub = _task_place(request, project)
    group = outline.task_group(
        project=project,
        kind=outline.GROUP_SUB_FEATURE
        if sub
        else outline.GROUP_FEATURE
        if feature
        else "unassigned",
        pk=sub.pk if sub else feature.pk if feature else None,
    )
    prefix = sub.key if sub else feature.key if feature else "T"

    def save(data: dict[str, Any]) -> Task:
        return services.task_create(
            project=project,
            feature=feature,
            sub_feature=sub,
            position=next_position(group),
            **fields_of(data, TASK_FIELDS),
        )

    where = sub or feature
    page = FormPage(
        title=f"Add a task to {where.key}" if where else "Add a task outside any feature",
        form_class=PlanTaskForm,
        action=request.get_full_path(),
        cancel_url=plan_url(project, sub_feature=sub.pk)
        if sub
        else plan_url(project, feature=feature.pk)
        if feature
        else plan_url(project),
        save=save,
        done_url=lambda task: _task_done_url(project, task),
        initial={"key": f"{prefix}-T{group.count() + 1}"} if request.method == "GET" else {},
    )
    return form_view(request, project, page)


def _task_place(
    request: AuthenticatedHtmxRequest, project: Project
) -> tuple[Feature | None, SubFeature | None]:
    sub_id, feature_id = request.GET.get("sub_feature"), request.GET.get("feature")
    if sub_id:
        if not sub_id.isdigit():
            raise Http404("No such sub-feature.")
        sub = sub_feature_or_404(project, int(sub_id))
        return sub.feature, sub
    if feature_id:
        if not feature_id.isdigit():
            raise Http404("No such feature.")
        return feature_or_404(project, int(feature_id)), None
    if request.GET.get("unassigned"):
        return None, None
    raise Http404("Name a sub_feature, a feature or unassigned.")


@login_required
@require_http_methods(["GET", "POST"])
def task_edit(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, pk)
    page = FormPage(
        title=f"Edit task {task.key}",
        form_class=PlanTaskForm,
        action=reverse("planning:plan-task-edit", args=[slug, pk]),
        cancel_url=_task_done_url(project, task),
        save=lambda data: services.task_update(task=task, data=fields_of(data, TASK_FIELDS)),
        done_url=lambda saved: _task_done_url(project, saved),
        initial={name: getattr(task, name) for name in TASK_FIELDS},
        as_row=True,
    )
    return form_view(request, project, page)


@login_required
@require_POST
def task_move(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, pk)
    return move_view(
        request,
        lambda **where: plan_edits.task_reorder(task=task, **where),
        _task_done_url(project, task),
    )


@login_required
@require_POST
def task_delete(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, pk)
    if task.sub_feature_id:
        done_url = plan_url(project, sub_feature=task.sub_feature_id)
    elif task.feature_id:
        done_url = plan_url(project, feature=task.feature_id)
    else:
        done_url = plan_url(project)
    return delete_view(
        request,
        project,
        what=f"task {task.key} {task.name}",
        impact=outline.task_deletion_impact(task=task),
        delete=lambda: services.task_delete(task=task),
        done_url=done_url,
        as_row=wants_fragment(request),
    )
