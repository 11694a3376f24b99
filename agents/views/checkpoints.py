"""Checkpoints: the list with the form that takes one, what restoring one would change,
and the restore itself."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Paginator
from django.db.models import Field, Model
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import selectors, services
from agents.checkpoints import TIME_FIELDS, StateDiff
from agents.forms import CheckpointCreateForm, CheckpointRestoreForm
from agents.models import Checkpoint
from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, redirect_or_client_redirect
from planning import selectors as planning_selectors
from planning.models import Feature, Project, Requirement, SubFeature, Task

CHECKPOINTS_PER_PAGE = 25


def _checkpoint_get(project: Project, pk: int) -> Checkpoint:
    checkpoint = get_object_or_404(selectors.checkpoint_list(project=project), pk=pk)
    checkpoint.project = project
    return checkpoint


@login_required
@require_http_methods(["GET", "POST"])
def checkpoint_list(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The project's checkpoints, newest first, and the form that takes one (POST).

    Non-members get 404; viewers see the list but cannot take checkpoints (403).
    """
    creating = request.method == "POST"
    project, membership = planning_selectors.project_for_user(
        user=request.user, slug=slug, write=creating
    )
    template_name = "agents/checkpoint_list.html"
    form = CheckpointCreateForm(request.POST if creating else None)
    if creating:
        if form.is_valid():
            checkpoint = services.checkpoint_snapshot(
                project=project, actor=request.user, **form.cleaned_data
            )
            messages.success(request, f"Took checkpoint “{checkpoint.name}”.")
            url = reverse("agents:checkpoint-list", args=[project.slug])
            return redirect_or_client_redirect(request, url)
        if request.htmx:
            context = {"project": project, "checkpoint_form": form}
            return render(request, f"{template_name}#checkpoint-form", context, status=400)
    # The state is a whole plan; the list never shows it.
    checkpoints = selectors.checkpoint_list(project=project).defer("state")
    context = {
        "project": project,
        "can_write": membership.can_write,
        "page_obj": Paginator(checkpoints, CHECKPOINTS_PER_PAGE).get_page(request.GET.get("page")),
        "checkpoint_form": form,
    }
    return render(request, template_name, context, status=400 if creating else 200)


@dataclass
class ShownChange:
    field: str
    before: str
    after: str


@dataclass
class ShownRow:
    key: str
    name: str
    changes: list[ShownChange]


@dataclass
class PlanSection:
    label: str
    added: list[ShownRow]
    removed: list[ShownRow]
    changed: list[ShownRow]


PLAN_KINDS: tuple[tuple[str, str, type[Model]], ...] = (
    ("features", "Features", Feature),
    ("sub_features", "Sub-features", SubFeature),
    ("tasks", "Tasks", Task),
    ("requirements", "Requirements", Requirement),
)
EXECUTION_LABELS = {"assigned_agent_id": "assigned agent", "qa_iterations": "QA iterations"}


def _json(value: Any) -> str:
    # Agent state is JSON: 1 and true, or "1" and 1, must not look alike.
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    return _json(value)


def _shown_field(model: type[Model], name: str, value: Any) -> str:
    """A value as the rest of the dashboard shows it: a choice by its label ("In Progress",
    not "in_progress")."""
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    # Only a column has choices; a relation (reverse or generic) has none.
    choices = dict(field.flatchoices) if isinstance(field, Field) else {}
    if isinstance(value, str) and value in choices:
        return str(choices[value])
    return _shown(value)


def _plan_sections(diff: StateDiff) -> list[PlanSection]:
    def row(kind: str, data: dict[str, Any]) -> ShownRow:
        if kind == "requirements":
            return ShownRow(key=data.get("code") or "", name=data["description"], changes=[])
        return ShownRow(key=data["key"], name=data.get("name", ""), changes=[])

    sections = []
    for kind, label, model in PLAN_KINDS:
        kind_diff = diff.plan.kinds[kind]
        if kind_diff.empty:
            continue
        sections.append(
            PlanSection(
                label=label,
                added=[row(kind, r) for r in kind_diff.added],
                removed=[row(kind, r) for r in kind_diff.removed],
                changed=[
                    ShownRow(
                        key=c.key,
                        name=c.name,
                        changes=[
                            ShownChange(
                                f.field,
                                _shown_field(model, f.field, f.before),
                                _shown_field(model, f.field, f.after),
                            )
                            for f in c.changes
                        ],
                    )
                    for c in kind_diff.changed
                ],
            )
        )
    return sections


def _execution_rows(project: Project, diff: StateDiff) -> list[ShownRow]:
    agent_ids = {
        value
        for task in diff.tasks
        for change in task.changes
        if change.field == "assigned_agent_id"
        for value in (change.before, change.after)
        if value is not None
    }
    agents = dict(project.agents.filter(pk__in=agent_ids).values_list("pk", "name"))

    def shown(name: str, value: Any) -> str:
        if value is None:
            return "—"
        if name == "assigned_agent_id":
            return agents.get(value, f"agent {value} (deleted)")
        if name in TIME_FIELDS:
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S UTC")
        return _shown_field(Task, name, value)

    return [
        ShownRow(
            key=task.key,
            name=task.name,
            changes=[
                ShownChange(
                    EXECUTION_LABELS.get(c.field, c.field.replace("_", " ")),
                    shown(c.field, c.before),
                    shown(c.field, c.after),
                )
                for c in task.changes
            ],
        )
        for task in diff.tasks
    ]


@login_required
@require_GET
def checkpoint_diff(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    """What restoring checkpoint `pk` would change, with the Restore button for writers."""
    project, membership = planning_selectors.project_for_user(user=request.user, slug=slug)
    checkpoint = _checkpoint_get(project, pk)
    context: dict[str, Any] = {
        "project": project,
        "checkpoint": checkpoint,
        "can_write": membership.can_write,
        "restore_form": CheckpointRestoreForm(),
        "restore_branch": services.RESTORE_BRANCH.format(pk=checkpoint.pk),
    }
    try:
        diff = services.checkpoint_diff(checkpoint=checkpoint)
    except DomainError as exc:
        context["error"] = exc.message
    else:
        context.update(
            diff=diff,
            plan_sections=_plan_sections(diff),
            execution_rows=_execution_rows(project, diff),
            shown_entries={
                "added": [(e, _json(e.get("value"))) for e in diff.agent_state.added],
                "removed": [(e, _json(e.get("value"))) for e in diff.agent_state.removed],
                "changed": [(c, _json(c.before), _json(c.after)) for c in diff.agent_state.changed],
            },
        )
    return render(request, "agents/checkpoint_diff.html", context)


@login_required
@require_POST
def checkpoint_restore(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    """Restore checkpoint `pk` and go back to the list, saying what changed; with the
    branch box ticked, a branch points at its commit too. Writers only."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    checkpoint = _checkpoint_get(project, pk)
    form = CheckpointRestoreForm(request.POST)
    form.is_valid()  # a box: unticked, or anything unreadable, is False
    try:
        decision = services.checkpoint_restore(
            checkpoint=checkpoint,
            actor=request.user,
            git_branch=bool(form.cleaned_data.get("git_branch")),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        url = reverse("agents:checkpoint-diff", args=[project.slug, checkpoint.pk])
    else:
        branch = decision.reasoning.get("git_branch")
        messages.success(
            request,
            f"Restored checkpoint “{checkpoint.name}”: {decision.reasoning['summary']}. "
            + (
                f"Files were not touched; branch {branch['name']} points at its commit "
                f"{branch['commit'][:12]}."
                if branch
                else "Files and git were not touched."
            ),
        )
        for warning in decision.reasoning.get("warnings", []):
            messages.warning(request, warning)
        url = reverse("agents:checkpoint-list", args=[project.slug])
    return redirect_or_client_redirect(request, url)
