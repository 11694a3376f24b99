"""The inbox: checkpoint tasks waiting for a person and answering one, tasks blocked
after failing their checks (retry or abandon), and the count on the project's Inbox tab."""

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from agents import selectors
from agents.forms import CheckpointAnswerForm
from agents.services import coding, orchestrator
from agents.views.run_display import pretty
from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, wants_fragment
from planning import selectors as planning_selectors
from planning.models import Project, ProjectMembership, Task


@dataclass
class ShownOption:
    id: str
    name: str
    pros: list[str]
    cons: list[str]


@dataclass
class ShownCheckpoint:
    task: Task
    ready: bool
    what_built: str
    how_to_verify: str
    options: list[ShownOption]
    waiting_on: list[Task]
    note: str = ""
    error: str = ""


def _texts(value: Any) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, list | tuple):
        return [v if isinstance(v, str) else pretty(v) for v in value]
    return [value if isinstance(value, str) else pretty(value)]


def _text(value: Any) -> str:
    return "\n".join(_texts(value))


def _shown_checkpoint(checkpoint: orchestrator.WaitingCheckpoint) -> ShownCheckpoint:
    task = checkpoint.task
    extra = task.shaped_extra()
    options = [
        ShownOption(
            id=str(option.get("id", "")),
            name=str(option.get("name") or option.get("id", "")),
            pros=_texts(option.get("pros")),
            cons=_texts(option.get("cons")),
        )
        for option in extra.get("options") or []
        if isinstance(option, dict) and option.get("id")
    ]
    return ShownCheckpoint(
        task=task,
        ready=checkpoint.ready,
        what_built=_text(extra.get("what-built")),
        how_to_verify=_text(extra.get("how-to-verify")),
        options=options if task.type == Task.Type.DECISION else [],
        waiting_on=[d for d in task.depends_on.all() if d.status != Task.Status.DONE],
    )


def _inbox_context(
    project: Project,
    membership: ProjectMembership,
    *,
    answered: Task | None = None,
    note: str = "",
    error: str = "",
    notice: str = "",
) -> dict[str, Any]:
    items = [_shown_checkpoint(c) for c in orchestrator.human_checkpoint_list(project=project)]
    general_error = error
    for item in items:
        if error and answered is not None and item.task.pk == answered.pk:
            # Shown on the item, with the note kept, so it can be answered again.
            item.note, item.error, general_error = note, error, ""
    return {
        "project": project,
        "can_write": membership.can_write,
        "blocked": list(selectors.task_blocked_after_checks_list(project=project)),
        "ready": [i for i in items if i.ready],
        "waiting": [i for i in items if not i.ready and i.task.status == Task.Status.PENDING],
        "set_aside": [i for i in items if not i.ready and i.task.status != Task.Status.PENDING],
        "notice": notice,
        "error": general_error,
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
def inbox(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The `checkpoint:*` tasks waiting for a person: what to verify or the options to
    choose from, with Approve and Reject (or one button per option) for writers; those
    still waiting on other tasks are listed apart, without buttons."""
    project, membership = planning_selectors.project_for_user(user=request.user, slug=slug)
    template_name = "agents/inbox.html"
    if wants_fragment(request):
        template_name += "#inbox"
    return render(request, template_name, _inbox_context(project, membership))


def _verdict(task: Task, verdict: str, choice: str) -> str:
    if verdict == "reject":
        return f"You rejected {task.key}; it is blocked now."
    if choice:
        names = {
            str(o.get("id")): o.get("name") or o.get("id")
            for o in task.shaped_extra().get("options", [])
            if isinstance(o, dict)
        }
        return f"You chose “{names.get(choice, choice)}” for {task.key}."
    return f"You approved {task.key}."


@login_required
@require_POST
def inbox_answer(request: AuthenticatedHtmxRequest, slug: str, task_id: int) -> HttpResponse:
    """Answer a checkpoint task: approve, reject or choose an option, with an optional
    note. The answer is logged as a decision and the inbox is shown again without the
    task. Writers only; a task that is not a checkpoint of the project is 404."""
    project, membership = planning_selectors.project_for_user(
        user=request.user, slug=slug, write=True
    )
    task = get_object_or_404(project.tasks.filter(type__startswith="checkpoint:"), pk=task_id)
    form = CheckpointAnswerForm(request.POST)
    error = notice = note = ""
    if not form.is_valid():
        error = "; ".join(str(m) for errors in form.errors.values() for m in errors)
    else:
        verdict, choice, note = (form.cleaned_data[k] for k in ("verdict", "choice", "note"))
        if not verdict and not choice:
            error = "Approve, reject, or choose one of the options."
        else:
            approved = verdict != "reject"
            try:
                orchestrator.human_checkpoint_answer(
                    task=task,
                    approved=approved,
                    actor=request.user,
                    choice=choice if approved else "",
                    note=note,
                )
            except DomainError as exc:
                error = exc.message
            else:
                notice = _verdict(task, verdict, choice)
    return _inbox_answered(request, project, membership, task, error, notice, note=note)


def _inbox_answered(
    request: AuthenticatedHtmxRequest,
    project: Project,
    membership: ProjectMembership,
    task: Task,
    error: str,
    notice: str,
    *,
    note: str = "",
) -> HttpResponse:
    """After acting on an inbox item: the inbox again (htmx; 400 with the error shown on
    the item), or a redirect to it with a message."""
    if request.htmx:
        context = _inbox_context(
            project, membership, answered=task, note=note, error=error, notice=notice
        )
        response = render(request, "agents/inbox.html#inbox", context, status=400 if error else 200)
        if not error:
            trigger_client_event(response, "inbox-changed")
        return response
    if error:
        messages.error(request, f"{task.key}: {error}")
    else:
        messages.success(request, notice)
    return redirect(reverse("agents:inbox", args=[project.slug]))


@login_required
@require_POST
def inbox_blocked_task(
    request: AuthenticatedHtmxRequest, slug: str, task_id: int, action: str
) -> HttpResponse:
    """Retry or abandon a task blocked after failing its checks: a retry gives it a fresh
    attempt (its QA count starts again), abandoning cancels it; either way its worktrees
    go. Writers only; a task of another project is 404."""
    project, membership = planning_selectors.project_for_user(
        user=request.user, slug=slug, write=True
    )
    task = get_object_or_404(project.tasks, pk=task_id)
    error = notice = ""
    try:
        if action == "retry":
            coding.task_attempt_retry(task=task, actor=request.user)
            notice = f"{task.key} gets a fresh attempt: it waits for an agent."
        else:
            coding.task_abandon(task=task, actor=request.user)
            notice = f"You abandoned {task.key}; it is cancelled."
    except DomainError as exc:
        error = exc.message
    return _inbox_answered(request, project, membership, task, error, notice)


@login_required
@require_GET
def inbox_count(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The project tabs' badge: how many checkpoints are ready for a person."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    context = {
        "project": project,
        "inbox_count": selectors.human_checkpoint_ready_count(project=project),
    }
    return render(request, "includes/project_nav.html#inbox-count", context)
