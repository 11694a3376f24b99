"""What every form that edits the plan from its page shares: the add/edit form page, the
deletion that first asks for confirmation, the move among siblings, and where a change
lands on the plan page. Requirements' forms use it too.

Every form works as a plain page without JavaScript and as an htmx fragment opened in
place (`#item-form`); a success lands back on the plan page with the changed item open.
A deletion that takes children or dependencies along first answers a confirmation that
counts them.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, redirect_or_client_redirect, wants_fragment
from planning import outline
from planning.forms import PlanMoveForm
from planning.models import Feature, Project, SubFeature, Task

TEMPLATE = "planning/plan_edit.html"


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


def fields_of(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The form's cleaned `data` of the fields `names`, for a service."""
    return {name: data[name] for name in names}


def next_position(items: QuerySet[Any]) -> int:
    """The position after the last of `items`."""
    last = items.order_by("-position").values_list("position", flat=True).first()
    return 0 if last is None else last + 1


def feature_or_404(project: Project, pk: int) -> Feature:
    """The project's feature `pk`, or 404."""
    return get_object_or_404(project.features.select_related("project"), pk=pk)


def sub_feature_or_404(project: Project, pk: int) -> SubFeature:
    """The project's sub-feature `pk`, or 404."""
    return get_object_or_404(project.sub_features.select_related("project", "feature"), pk=pk)
