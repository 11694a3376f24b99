"""A task's own page: everything the plan says about it, the tasks it waits for and those
waiting for it as links, and who did it; editors change its fields and dependencies in
place (htmx), each through the planning services."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, wants_fragment
from planning import board, selectors, services
from planning.forms import SubtaskAddForm, TaskAssignForm, TaskDependencyAddForm, TaskEditForm
from planning.models import Project, Task, TaskDependency

TEMPLATE = "planning/task_detail.html"


def _task(project: Project, key: str) -> Task:
    tasks = project.tasks.select_related(
        "feature",
        "sub_feature",
        "parent",
        "assigned_agent",
        "coded_by",
        "merged_by",
        "merged_by_agent",
    )
    return get_object_or_404(tasks, key=key)


def _edges(task: Task) -> tuple[QuerySet[TaskDependency], QuerySet[TaskDependency]]:
    waits_for = task.dependency_edges.select_related("depends_on").order_by("depends_on__key")
    waited_by = task.dependent_edges.select_related("task").order_by("task__key")
    return waits_for, waited_by


def _context(project: Project, task: Task, can_write: bool, **extra: Any) -> dict[str, Any]:
    waits_for, waited_by = _edges(task)
    subtasks = list(task.subtasks.order_by("sort_key"))
    external = (
        list(
            selectors.external_dependency_list(project=project).filter(sub_feature=task.sub_feature)
        )
        if task.sub_feature_id
        else []
    )
    # Dependency phrases that named no task or plan: shown, never enforced.
    notes = [
        *(task.sub_feature.shaped_extra().get("dependency_notes", []) if task.sub_feature else []),
        *task.shaped_extra().get("dependency_notes", []),
    ]
    return {
        "external_dependencies": external,
        "dependency_notes": notes,
        "project": project,
        "task": task,
        "can_write": can_write,
        # Who may be given the task: the project's agents (editors only).
        "agent_choices": board.agent_choices(project) if can_write else [],
        "assign_error": extra.pop("assign_error", None),
        "waits_for": list(waits_for),
        "waited_by": list(waited_by),
        "edit_form": extra.pop("edit_form", None) or TaskEditForm(initial=_initial(task)),
        "dependency_form": extra.pop("dependency_form", None)
        or TaskDependencyAddForm(prefix="dependency"),
        "subtasks": subtasks,
        "subtask_form": extra.pop("subtask_form", None)
        or SubtaskAddForm(prefix="subtask", initial={"key": f"{task.key}.{len(subtasks) + 1}"}),
        **extra,
    }


def _initial(task: Task) -> dict[str, Any]:
    return {
        "name": task.name,
        "description": task.description,
        "priority": task.priority,
        "status": task.status,
    }


@login_required
@require_GET
def task_detail(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    task = _task(project, key)
    return render(request, TEMPLATE, _context(project, task, membership.can_write))


@login_required
@require_POST
def task_edit(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """Save the task's name, description and priority (task_update) and its status
    (task_move, with its rules); answers the fields again (`#task-fields`), with errors
    and 400 when nothing could be saved."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, key)
    form = TaskEditForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.task_update(
                task=task,
                data={k: data[k] for k in ("name", "description", "priority")},
            )
            if data["status"] != task.status:
                services.task_move(task=task, status=data["status"])
        except DomainError as exc:
            form.add_error(None, exc.message)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        task = _task(project, key)
    return _answer(request, project, task, "task-fields", edit_form=form)


@login_required
@require_POST
def task_assign(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """Give the task to one of the project's agents, or to none (`agent`, its id or
    blank), through task_assign; answers who works on it again (`#task-who`), with the
    reason and 400 when the change is refused."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, key)
    form = TaskAssignForm(request.POST, agents=board.agent_choices(project))
    error = None
    if form.is_valid():
        try:
            services.task_assign(task=task, agent_id=form.cleaned_data["agent"])
        except DomainError as exc:
            error = exc.message
        except ValidationError as exc:
            error = " ".join(exc.messages)
        task = _task(project, key)
    else:
        error = " ".join(str(message) for message in form.errors["agent"])
    if not wants_fragment(request) and error is None:
        return redirect("planning:task-detail", slug=project.slug, key=task.key)
    context = _context(project, task, True, assign_error=error)
    if not wants_fragment(request):
        return render(request, TEMPLATE, context, status=400)
    response = render(request, f"{TEMPLATE}#task-who", context, status=400 if error else 200)
    if error is None:
        trigger_client_event(response, "plan-changed")
    return response


@login_required
@require_POST
def task_dependency_add(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """Make the task wait for another (by key); a cycle is refused with its path."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, key)
    form = TaskDependencyAddForm(request.POST, prefix="dependency")
    if form.is_valid():
        other = project.tasks.filter(key=form.cleaned_data["key"]).first()
        if other is None:
            form.add_error("key", f"No task {form.cleaned_data['key']} in this project.")
        else:
            try:
                services.task_add_dependency(task=task, depends_on=other)
            except DomainError as exc:
                form.add_error("key", exc.message)
    return _answer(request, project, task, "task-dependencies", dependency_form=form)


@login_required
@require_POST
def task_subtask_add(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """Add a subtask under the task, where the task sits in the plan (task_create)."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, key)
    form = SubtaskAddForm(request.POST, prefix="subtask")
    if form.is_valid():
        try:
            services.task_create(
                project=project,
                key=form.cleaned_data["key"],
                name=form.cleaned_data["name"],
                parent=task,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        except ValidationError as exc:
            form.add_error("key", " ".join(exc.messages))
    return _answer(request, project, task, "task-subtasks", subtask_form=form)


@login_required
@require_POST
def task_external_dependency_set(
    request: AuthenticatedHtmxRequest, slug: str, key: str, pk: int
) -> HttpResponse:
    """Mark an external dependency of the task's plan satisfied (`satisfied=1`) or not
    (`satisfied=0`); the plan's tasks are ready only once all of them are."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, key)
    dependency = get_object_or_404(
        selectors.external_dependency_list(project=project), pk=pk, sub_feature=task.sub_feature_id
    )
    services.external_dependency_set_satisfied(
        dependency=dependency, actor=request.user, satisfied=request.POST.get("satisfied") != "0"
    )
    return _answer(request, project, task, "task-dependencies")


@login_required
@require_POST
def task_dependency_remove(
    request: AuthenticatedHtmxRequest, slug: str, key: str, pk: int
) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task(project, key)
    edge = get_object_or_404(TaskDependency, task=task, pk=pk)
    services.task_remove_dependency(edge=edge)
    return _answer(request, project, task, "task-dependencies")


def _answer(
    request: AuthenticatedHtmxRequest,
    project: Project,
    task: Task,
    partial: str,
    **forms: Any,
) -> HttpResponse:
    failed = any(form.errors for form in forms.values() if form is not None)
    if not wants_fragment(request) and not failed:
        return redirect("planning:task-detail", slug=project.slug, key=task.key)
    context = _context(project, task, True, **forms)
    if not wants_fragment(request):
        return render(request, TEMPLATE, context, status=400)
    return render(request, f"{TEMPLATE}#{partial}", context, status=400 if failed else 200)
