"""Editing the plan from its page: adding, editing, moving and deleting features,
sub-features and tasks, each through a planning service.

Every form works as a plain page without JavaScript and as an htmx fragment opened in
place (`#item-form`); a success lands back on the plan page with the changed item open.
A deletion that takes children or dependencies along first answers a confirmation that
counts them. Editors and owners only: a viewer gets 403. No edit saves a version.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, redirect_or_client_redirect, wants_fragment
from planning import outline, selectors, services
from planning.forms import FeatureForm, PlanMoveForm, PlanTaskForm, SubFeatureForm
from planning.models import Feature, Project, SubFeature, Task
from planning.services import plan_edits

TEMPLATE = "planning/plan_edit.html"
FEATURE_FIELDS = ("key", "name", "description", "priority")
SUB_FEATURE_FIELDS = ("key", "name", "objective", "wave", "autonomous")
TASK_FIELDS = ("key", "name", "description", "type", "priority", "size")


def plan_url(
    project: Project,
    *,
    feature: int | None = None,
    sub_feature: int | None = None,
    task: Task | None = None,
) -> str:
    """The plan page opened at an item, where an edit lands."""
    url = reverse("planning:project-detail", args=[project.slug])
    if task is not None:
        return f"{url}?{urlencode({'task': task.key})}#task-{task.pk}"
    if sub_feature is not None:
        return f"{url}?sub_feature={sub_feature}#sub-feature-{sub_feature}"
    if feature is not None:
        return f"{url}?feature={feature}#feature-{feature}"
    return url


@dataclass
class FormPage:
    """One add or edit form: what it shows and what saving it does."""

    title: str
    form_class: type[forms.Form]
    action: str
    cancel_url: str
    save: Callable[[dict[str, Any]], Model]
    done_url: Callable[[Any], str]
    initial: dict[str, Any] = field(default_factory=dict)
    # A task's form opens in place of its table row.
    as_row: bool = False


def add_errors(form: forms.Form, exc: DomainError | ValidationError) -> None:
    """Put a service's refusal on the form: on its field when the form has one."""
    if isinstance(exc, DomainError):
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for name, errors in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


def form_view(request: AuthenticatedHtmxRequest, project: Project, page: FormPage) -> HttpResponse:
    status = 200
    if request.method == "POST":
        form = page.form_class(request.POST)
        if form.is_valid():
            try:
                saved = page.save(form.cleaned_data)
            except (DomainError, ValidationError) as exc:
                add_errors(form, exc)
            else:
                return redirect_or_client_redirect(request, page.done_url(saved))
        status = 400
    else:
        form = page.form_class(initial=page.initial)
    context = {
        "project": project,
        "form": form,
        "page": page,
        # A refused post swaps the form itself (`closest .htmx-container`), not the row.
        "as_row": page.as_row and request.method == "GET",
    }
    if wants_fragment(request):
        return render(request, f"{TEMPLATE}#item-form", context, status=status)
    return render(request, TEMPLATE, context, status=status)


def delete_view(
    request: AuthenticatedHtmxRequest,
    project: Project,
    *,
    what: str,
    impact: outline.DeletionImpact,
    delete: Callable[[], None],
    done_url: str,
    as_row: bool = False,
) -> HttpResponse:
    if impact.anything and request.POST.get("confirm") != "yes":
        context = {
            "project": project,
            "what": what,
            "impact": impact_lines(impact),
            "action": request.path,
            "cancel_url": done_url,
            "as_row": as_row,
        }
        if wants_fragment(request):
            return render(request, f"{TEMPLATE}#delete-confirm", context)
        return render(request, TEMPLATE, context)
    delete()
    return redirect_or_client_redirect(request, done_url)


def impact_lines(impact: outline.DeletionImpact) -> list[str]:
    """The confirmation's sentences: what is deleted along, and what loses a link."""

    def count(n: int, one: str, many: str) -> str:
        return f"{n} {one if n == 1 else many}"

    lines = []
    if impact.sub_features:
        lines.append(count(impact.sub_features, "sub-feature", "sub-features") + " deleted")
    if impact.tasks:
        lines.append(count(impact.tasks, "task", "tasks") + " deleted")
    if impact.subtasks:
        lines.append(count(impact.subtasks, "subtask", "subtasks") + " deleted")
    if impact.waiting_tasks:
        lines.append(
            count(impact.waiting_tasks, "task elsewhere waits", "tasks elsewhere wait")
            + " for it and will lose that dependency"
        )
    if impact.waiting_sub_features:
        lines.append(
            count(impact.waiting_sub_features, "sub-feature waits", "sub-features wait")
            + " for it and will lose that dependency"
        )
    if impact.requirement_links:
        lines.append(
            count(impact.requirement_links, "requirement loses", "requirements lose")
            + " its link to it"
        )
    if impact.linked_features:
        lines.append(count(impact.linked_features, "feature loses", "features lose") + " its link")
    if impact.linked_sub_features:
        lines.append(
            count(impact.linked_sub_features, "sub-feature loses", "sub-features lose")
            + " its link"
        )
    return lines


def move_view(
    request: AuthenticatedHtmxRequest, reorder: Callable[..., Any], done_url: str
) -> HttpResponse:
    """Move an item among its siblings (`offset` or `index`, PlanMoveForm) through
    `reorder`, a service. A refused move answers htmx (a drag) with its reason as plain
    text, which the page shows where the item snaps back to; a plain form (the arrows)
    goes back to `done_url` with the reason as a message."""
    form = PlanMoveForm(request.POST)
    if not form.is_valid():
        return _move_refused(request, "Say where to move it: an offset or an index.", 400, done_url)
    try:
        reorder(index=form.cleaned_data["index"], offset=form.cleaned_data["offset"] or 0)
    except DomainError as exc:
        return _move_refused(request, exc.message, exc.status_code, done_url)
    return redirect_or_client_redirect(request, done_url)


def _move_refused(
    request: AuthenticatedHtmxRequest, reason: str, status: int, done_url: str
) -> HttpResponse:
    if wants_fragment(request):
        return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")
    messages.error(request, reason)
    return redirect(done_url)


def _fields(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: data[name] for name in names}


def _next_position(items: QuerySet[Any]) -> int:
    last = items.order_by("-position").values_list("position", flat=True).first()
    return 0 if last is None else last + 1


# Features -----------------------------------------------------------------------------


def _feature(project: Project, pk: int) -> Feature:
    return get_object_or_404(project.features.select_related("project"), pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def feature_add(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)

    def save(data: dict[str, Any]) -> Feature:
        return services.feature_create(
            project=project,
            position=_next_position(project.features.all()),
            **_fields(data, FEATURE_FIELDS),
        )

    page = FormPage(
        title="Add a feature",
        form_class=FeatureForm,
        action=reverse("planning:plan-feature-add", args=[slug]),
        cancel_url=plan_url(project),
        save=save,
        done_url=lambda feature: plan_url(project, feature=feature.pk),
        initial={"key": f"{project.features.count() + 1:02d}"} if request.method == "GET" else {},
    )
    return form_view(request, project, page)


@login_required
@require_http_methods(["GET", "POST"])
def feature_edit(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    feature = _feature(project, pk)
    page = FormPage(
        title=f"Edit feature {feature.key}",
        form_class=FeatureForm,
        action=reverse("planning:plan-feature-edit", args=[slug, pk]),
        cancel_url=plan_url(project, feature=pk),
        save=lambda data: services.feature_update(
            feature=feature, data=_fields(data, FEATURE_FIELDS)
        ),
        done_url=lambda _: plan_url(project, feature=pk),
        initial={name: getattr(feature, name) for name in FEATURE_FIELDS},
    )
    return form_view(request, project, page)


@login_required
@require_POST
def feature_move(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    feature = _feature(project, pk)
    return move_view(
        request,
        lambda **where: plan_edits.feature_reorder(feature=feature, **where),
        plan_url(project, feature=pk),
    )


@login_required
@require_POST
def feature_delete(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    feature = _feature(project, pk)
    return delete_view(
        request,
        project,
        what=f"feature {feature.key} {feature.name}",
        impact=outline.feature_deletion_impact(feature=feature),
        delete=lambda: services.feature_delete(feature=feature),
        done_url=plan_url(project),
    )


# Sub-features -------------------------------------------------------------------------


def _sub_feature(project: Project, pk: int) -> SubFeature:
    return get_object_or_404(project.sub_features.select_related("project", "feature"), pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def sub_feature_add(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    """Add a sub-feature at the end of feature `pk`."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    feature = _feature(project, pk)

    def save(data: dict[str, Any]) -> SubFeature:
        return services.sub_feature_create(
            feature=feature,
            position=_next_position(feature.sub_features.all()),
            **_fields(data, SUB_FEATURE_FIELDS),
        )

    number = feature.sub_features.count() + 1 if request.method == "GET" else 0
    page = FormPage(
        title=f"Add a sub-feature to {feature.key}",
        form_class=SubFeatureForm,
        action=reverse("planning:plan-sub-feature-add", args=[slug, pk]),
        cancel_url=plan_url(project, feature=pk),
        save=save,
        done_url=lambda sub: plan_url(project, sub_feature=sub.pk),
        initial={"key": f"{feature.key}-{number:02d}"},
    )
    return form_view(request, project, page)


@login_required
@require_http_methods(["GET", "POST"])
def sub_feature_edit(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    sub = _sub_feature(project, pk)
    page = FormPage(
        title=f"Edit sub-feature {sub.key}",
        form_class=SubFeatureForm,
        action=reverse("planning:plan-sub-feature-edit", args=[slug, pk]),
        cancel_url=plan_url(project, sub_feature=pk),
        save=lambda data: services.sub_feature_update(
            sub_feature=sub, data=_fields(data, SUB_FEATURE_FIELDS)
        ),
        done_url=lambda _: plan_url(project, sub_feature=pk),
        initial={name: getattr(sub, name) for name in SUB_FEATURE_FIELDS},
    )
    return form_view(request, project, page)


@login_required
@require_POST
def sub_feature_move(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    sub = _sub_feature(project, pk)
    return move_view(
        request,
        lambda **where: plan_edits.sub_feature_reorder(sub_feature=sub, **where),
        plan_url(project, sub_feature=pk),
    )


@login_required
@require_POST
def sub_feature_delete(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    sub = _sub_feature(project, pk)
    return delete_view(
        request,
        project,
        what=f"sub-feature {sub.key} {sub.name}",
        impact=outline.sub_feature_deletion_impact(sub_feature=sub),
        delete=lambda: services.sub_feature_delete(sub_feature=sub),
        done_url=plan_url(project, feature=sub.feature_id),
    )


# Tasks --------------------------------------------------------------------------------


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
            position=_next_position(group),
            **_fields(data, TASK_FIELDS),
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
        sub = _sub_feature(project, int(sub_id))
        return sub.feature, sub
    if feature_id:
        if not feature_id.isdigit():
            raise Http404("No such feature.")
        return _feature(project, int(feature_id)), None
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
        save=lambda data: services.task_update(task=task, data=_fields(data, TASK_FIELDS)),
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
