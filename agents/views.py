"""HTML pages for a project's agents: the agents and their runs, run detail, the activity
feed, usage metrics, the human-checkpoint inbox and checkpoints."""

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.safestring import SafeString
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from agents import charts, selectors, services
from agents.checkpoints import TIME_FIELDS, StateDiff
from agents.models import Agent, AgentRun, AgentStep, Checkpoint, ToolCall
from agents.services import orchestrator
from agents.services.external import NOT_CLAIMING
from core.errors import DomainError
from core.htmx import HtmxHttpRequest, redirect_or_client_redirect, wants_fragment
from planning import selectors as planning_selectors
from planning.models import Feature, Project, ProjectMembership, Requirement, SubFeature, Task

AGENTS_PER_PAGE = 25


@login_required
@require_GET
@vary_on_headers("HX-Request")
def agent_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The project's agents: what each is doing and when it last acted, with the project's
    run controls and its latest runs. Non-members get 404.

    `#agent-status` polls itself every 2 s while the project runs or an agent is busy.
    """
    project, membership = planning_selectors.project_for_user(user=request.user, slug=slug)
    template_name = "agents/agent_list.html"
    if wants_fragment(request):
        template_name += "#agent-status"
    paginator = Paginator(selectors.agent_list(project=project), AGENTS_PER_PAGE)
    page_obj = paginator.get_page(request.GET.get("page"))
    agents_live = project.status == Project.Status.ACTIVE or any(
        agent.status == Agent.Status.BUSY for agent in page_obj
    )
    context = {
        "project": project,
        "page_obj": page_obj,
        "can_write": membership.can_write,
        "agents_live": agents_live,
        "agent_form": AgentCreateForm(),
    }
    return render(request, template_name, context)


class AgentCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    type = forms.ChoiceField(choices=Agent.Type.choices, initial=Agent.Type.CODER)
    model = forms.CharField(max_length=200, required=False, help_text="Optional model name.")


@login_required
@require_POST
@sensitive_variables("issued")
def agent_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Add an agent to the project. Writers only; errors come back on the agents page."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    form = AgentCreateForm(request.POST)
    if form.is_valid():
        try:
            if form.cleaned_data["type"] == Agent.Type.EXTERNAL:
                issued = services.external_agent_create(
                    project=project,
                    name=form.cleaned_data["name"],
                    model=form.cleaned_data["model"],
                )
                return _issued_key_page(request, project, issued, created=True)
            agent = services.agent_create(project=project, **form.cleaned_data)
        except DomainError as exc:
            messages.error(request, exc.message)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, f"Added {agent.get_type_display().lower()} agent {agent.name}."
            )
    else:
        messages.error(request, "Give the agent a name and a type.")
    return redirect_or_client_redirect(request, reverse("agents:agent-list", args=[project.slug]))


@login_required
@require_http_methods(["GET", "POST"])
@sensitive_variables("issued")
def agent_key_issue(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """GET asks to confirm; POST gives an external agent a new key, replacing its old one
    and showing the new one once. Writers only."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    agent = get_object_or_404(selectors.agent_list(project=project), pk=pk)
    if request.method == "GET":
        return render(
            request, "agents/agent_key_confirm.html", {"project": project, "agent": agent}
        )
    try:
        issued = services.agent_key_issue(agent=agent)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect_or_client_redirect(
            request, reverse("agents:agent-list", args=[project.slug])
        )
    return _issued_key_page(request, project, issued, created=False)


@sensitive_variables("issued", "context")
def _issued_key_page(
    request: HtmxHttpRequest, project: Project, issued: services.IssuedKey, *, created: bool
) -> HttpResponse:
    """The one page that shows a key. It answers the POST that made the key: the key is
    never stored (not in messages, not behind a redirect) and the page is never cached."""
    context = {
        "project": project,
        "agent": issued.agent,
        "key": issued.key,
        "created": created,
        "claim_url": request.build_absolute_uri(
            reverse("agents-api:task-claim", kwargs={"project_slug": project.slug})
        ),
    }
    response = render(request, "agents/agent_key.html", context)
    add_never_cache_headers(response)
    return response


# Checkpoints --------------------------------------------------------------------------

CHECKPOINTS_PER_PAGE = 25


class CheckpointCreateForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Name, e.g. before the refactor"}),
    )
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "Why (optional)"}),
    )


def _checkpoint_get(project: Project, pk: int) -> Checkpoint:
    checkpoint = get_object_or_404(selectors.checkpoint_list(project=project), pk=pk)
    checkpoint.project = project
    return checkpoint


@login_required
@require_http_methods(["GET", "POST"])
def checkpoint_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
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
        choices = dict(model._meta.get_field(name).flatchoices)
    except FieldDoesNotExist:
        choices = {}
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
def checkpoint_diff(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """What restoring checkpoint `pk` would change, with the Restore button for writers."""
    project, membership = planning_selectors.project_for_user(user=request.user, slug=slug)
    checkpoint = _checkpoint_get(project, pk)
    context: dict[str, Any] = {
        "project": project,
        "checkpoint": checkpoint,
        "can_write": membership.can_write,
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
def checkpoint_restore(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """Restore checkpoint `pk` and go back to the list, saying what changed. Writers only."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    checkpoint = _checkpoint_get(project, pk)
    try:
        decision = services.checkpoint_restore(checkpoint=checkpoint, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        url = reverse("agents:checkpoint-diff", args=[project.slug, checkpoint.pk])
    else:
        messages.success(
            request,
            f"Restored checkpoint “{checkpoint.name}”: {decision.reasoning['summary']}. "
            "Files and git were not touched.",
        )
        for warning in decision.reasoning.get("warnings", []):
            messages.warning(request, warning)
        url = reverse("agents:checkpoint-list", args=[project.slug])
    return redirect_or_client_redirect(request, url)


# Running the project ---------------------------------------------------------------------


def _project_run_action(
    request: HtmxHttpRequest, slug: str, action: Callable[[Project, Any], str]
) -> HttpResponse:
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    try:
        notice = action(project, request.user)
    except DomainError as exc:
        if request.htmx:
            context = {"project": project, "can_write": True, "run_error": exc.message}
            return render(request, "agents/agent_list.html#run-controls", context, status=400)
        messages.error(request, exc.message)
    else:
        messages.success(request, notice)
    return redirect_or_client_redirect(request, reverse("agents:agent-list", args=[project.slug]))


@login_required
@require_POST
def project_run_start(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Run (or resume) the project: checkpoint, then dispatch ready tasks. Writers only."""

    def start(project: Project, user: Any) -> str:
        runs = orchestrator.project_run_start(project=project, actor=user)
        if runs:
            return f"The project is running: started {len(runs)} run{pluralize(len(runs))}."
        return (
            "The project is running. No ready task has an idle agent right now; "
            "runs start as tasks become ready."
        )

    return _project_run_action(request, slug, start)


@login_required
@require_POST
def project_run_pause(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Pause the project: no new runs; running ones stop at their next step. Writers only."""

    def pause(project: Project, user: Any) -> str:
        orchestrator.project_run_pause(project=project)
        return "Paused. No new runs start; running ones stop after their current step."

    return _project_run_action(request, slug, pause)


@login_required
@require_POST
def project_run_cancel(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Pause the project and cancel its active runs. Writers only."""

    def cancel(project: Project, user: Any) -> str:
        count = orchestrator.project_run_cancel(project=project)
        return f"Paused the project and cancelled {count} active run{pluralize(count)}."

    return _project_run_action(request, slug, cancel)


# Runs ------------------------------------------------------------------------------------

RUNS_PER_PAGE = 20
ACTIVE_RUN_STATUSES = selectors.ACTIVE_RUN_STATUSES
# Tool input and output can be whole files; the page shows this much of each.
SHOWN_CHARS = 20_000


@login_required
@require_GET
@vary_on_headers("HX-Request")
def run_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The project's runs, newest first. The agents page loads `#run-table` (the latest
    runs), which polls itself every 2 s while the project runs or a run is active."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    template_name = "agents/run_list.html"
    if wants_fragment(request):
        template_name += "#run-table"
    paginator = Paginator(selectors.agent_run_overview_list(project=project), RUNS_PER_PAGE)
    page_obj = paginator.get_page(request.GET.get("page"))
    runs_live = project.status == Project.Status.ACTIVE or any(
        run.status in ACTIVE_RUN_STATUSES for run in page_obj
    )
    context = {
        "project": project,
        "page_obj": page_obj,
        "runs_live": runs_live,
        "runs_url": request.get_full_path(),
    }
    return render(request, template_name, context)


@dataclass
class ShownToolCall:
    name: str
    call_id: str
    status: str  # succeeded, failed, running, unfinished, requested or not-run
    label: str
    input: str
    output: str = ""
    error: str = ""
    duration_ms: int | None = None
    at: datetime | None = None
    step: int | None = None


@dataclass
class ShownStep:
    number: int
    status: str  # done, failed, running, or stopped (running when its run ended)
    attempts: int
    reply_text: str
    error: str
    started_at: datetime
    finished_at: datetime | None
    tool_calls: list[ShownToolCall] = field(default_factory=list)


def _pretty(value: Any) -> str:
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    )
    if len(text) > SHOWN_CHARS:
        return f"{text[:SHOWN_CHARS]}\n… ({len(text) - SHOWN_CHARS:,} more characters)"
    return text


def _pretty_arguments(raw: Any) -> str:
    # The model's raw arguments: JSON when it got them right, shown as sent when not.
    if isinstance(raw, str):
        try:
            return _pretty(json.loads(raw))
        except ValueError:
            return _pretty(raw)
    return _pretty(raw)


CALL_FINISHED = ("succeeded", "failed")
CALL_LABELS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "running": "running",
    "unfinished": "never finished",
    "requested": "not started yet",
    "not-run": "not run",
}


def _shown_call(started: ToolCall, *, ended: bool) -> ShownToolCall:
    completion = getattr(started, "completion", None)
    unfinished = "unfinished" if ended else "running"
    status = completion.status if completion is not None else unfinished
    return ShownToolCall(
        name=started.tool_name,
        call_id=started.call_id,
        status=status,
        label=CALL_LABELS[status],
        input=_pretty(started.input),
        output=""
        if completion is None or completion.output is None
        else _pretty(completion.output),
        error=completion.error if completion is not None else "",
        duration_ms=completion.duration_ms if completion is not None else None,
        at=started.created_at,
        step=started.step,
    )


def _reply_requests(reply: Any) -> list[tuple[str, str, Any]]:
    """(call id, tool name, raw arguments) for each tool call in an OpenAI-shaped reply."""
    requests = []
    calls = reply.get("tool_calls") if isinstance(reply, dict) else None
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict):
            continue
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        requests.append(
            (
                str(call.get("id") or ""),
                str(function.get("name") or "(unnamed)"),
                function.get("arguments"),
            )
        )
    return requests


def _shown_steps(
    steps: list[AgentStep], calls: list[ToolCall], *, ended: bool
) -> tuple[list[ShownStep], list[ShownToolCall]]:
    """The steps with their tool calls in the order the model asked for them, and the
    calls that belong to no loaded step (an external agent may report calls without one)."""
    by_step: dict[int | None, list[ToolCall]] = defaultdict(list)
    for call in calls:
        by_step[call.step].append(call)
    shown = []
    for step in steps:
        rows = by_step.pop(step.number, [])
        by_call_id = {row.call_id: row for row in rows if row.call_id}
        used: set[int] = set()
        tool_calls = []
        for call_id, name, arguments in _reply_requests(step.reply):
            row = by_call_id.get(call_id) if call_id else None
            if row is not None and row.pk not in used:
                used.add(row.pk)
                tool_calls.append(_shown_call(row, ended=ended))
            else:
                status = "not-run" if ended else "requested"
                tool_calls.append(
                    ShownToolCall(
                        name=name,
                        call_id=call_id,
                        status=status,
                        label=CALL_LABELS[status],
                        input=_pretty_arguments(arguments),
                        step=step.number,
                    )
                )
        tool_calls += [_shown_call(row, ended=ended) for row in rows if row.pk not in used]
        reply = step.reply if isinstance(step.reply, dict) else {}
        content = reply.get("content")
        shown.append(
            ShownStep(
                number=step.number,
                status="stopped"
                if ended and step.status == AgentStep.Status.RUNNING
                else step.status,
                attempts=step.attempts,
                reply_text=content if isinstance(content, str) else "",
                error=step.error,
                started_at=step.started_at,
                finished_at=step.finished_at,
                tool_calls=tool_calls,
            )
        )
    loose = [_shown_call(call, ended=ended) for rows in by_step.values() for call in rows]
    loose.sort(key=lambda call: (call.at or timezone.now(), call.step or 0))
    return shown, loose


def _retryable(run: AgentRun) -> bool:
    # External agents claim again themselves; plan generation has its own button.
    return (
        run.status == AgentRun.Status.FAILED
        and run.kind == AgentRun.Kind.TASK
        and run.agent.type != Agent.Type.EXTERNAL
    )


def _goal(run: AgentRun) -> str:
    for message in run.payload.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else _pretty(content)
    return run.payload.get("goal", "") if isinstance(run.payload.get("goal"), str) else ""


def _after(request: HttpRequest) -> int:
    try:
        return max(int(request.GET.get("after", 0)), 0)
    except ValueError:
        return 0


def _step_settling(run: AgentRun, steps: list[AgentStep]) -> bool:
    """Whether an ended run's step is still running: a cancelled run's step in flight
    finishes its tool calls. Bounded by the task time limit, after which the worker has
    been stopped, so a step whose worker died never keeps the page polling."""
    if run.finished_at is None or not any(s.status == AgentStep.Status.RUNNING for s in steps):
        return False
    return timezone.now() - run.finished_at < timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def run_detail(request: HtmxHttpRequest, slug: str, run_id: int) -> HttpResponse:
    """A run's timeline: each step's reply and tool calls, the run's decisions, token use
    and error, with Cancel and Retry for writers. Non-members get 404.

    While the run is queued or running, the last item of the timeline (`#run-live`) polls
    `?after=<last finished step>` every 2 s; the answer (`#run-poll`) appends the steps
    finished since, replaces the live item and refreshes the summary and decisions out of
    band. Once the run has ended the answer carries no poller, so polling stops, except
    while a step it was in still runs to its end (a cancel stops the run between steps).
    Finished steps never change, so their opened <details> stay open.
    """
    project, membership = planning_selectors.project_for_user(user=request.user, slug=slug)
    run = selectors.agent_run_get(project=project, run_id=run_id)
    template_name = "agents/run_detail.html"
    fragment = wants_fragment(request)
    after = _after(request) if fragment else 0
    if fragment:
        template_name += "#run-poll"
    live = run.status in ACTIVE_RUN_STATUSES
    step_rows = list(selectors.agent_step_list(run=run, after=after))
    polling = live or _step_settling(run, step_rows)
    steps, loose_calls = _shown_steps(
        step_rows,
        list(selectors.run_tool_call_list(run=run, after_step=after)),
        ended=not polling,
    )
    # Finished steps go into the timeline for good; from the first unfinished one on,
    # the steps stay in the live item until they finish.
    finished, unfinished = [], []
    for step in steps:
        if polling and (unfinished or step.status == AgentStep.Status.RUNNING):
            unfinished.append(step)
        else:
            finished.append(step)
    decisions = [
        (decision, _pretty(decision.reasoning) if decision.reasoning else "")
        for decision in selectors.run_decision_list(run=run)
    ]
    # The poll names what it has shown, so sections whose <details> a reader may have
    # opened are only replaced when they changed.
    decisions_seen = str(decisions[-1][0].pk if decisions else 0)
    finished_calls = sum(c.status in CALL_FINISHED for c in loose_calls)
    loose_calls_seen = f"{len(loose_calls)}.{finished_calls}"
    context = {
        "project": project,
        "run": run,
        "can_write": membership.can_write,
        "live": live,
        "polling": polling,
        "retryable": _retryable(run),
        "steps": finished,
        "live_steps": unfinished,
        "after": finished[-1].number if finished else after,
        "loose_calls": loose_calls,
        "decisions": decisions,
        "decisions_seen": decisions_seen,
        "decisions_changed": request.GET.get("decisions") != decisions_seen,
        "loose_calls_seen": loose_calls_seen,
        "loose_calls_changed": request.GET.get("calls") != loose_calls_seen,
        "usage": selectors.run_usage(run=run),
        "oob": fragment,
    }
    if not fragment:
        context["goal"] = _goal(run)
    return render(request, template_name, context)


def _run_action(
    request: HtmxHttpRequest, slug: str, run_id: int, action: Callable[[AgentRun], str]
) -> HttpResponse:
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    run = selectors.agent_run_get(project=project, run_id=run_id)
    try:
        messages.success(request, action(run))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect_or_client_redirect(
        request, reverse("agents:run-detail", args=[project.slug, run.pk])
    )


@login_required
@require_POST
def run_cancel(request: HtmxHttpRequest, slug: str, run_id: int) -> HttpResponse:
    """Cancel a queued or running run; its task goes back to pending. Writers only."""
    who = request.user.get_username()

    def cancel(run: AgentRun) -> str:
        orchestrator.run_cancel(run=run, reason=f"cancelled by {who}")
        return f"Cancelled run {run.pk}. It stops at its next step boundary."

    return _run_action(request, slug, run_id, cancel)


@login_required
@require_POST
def run_retry(request: HtmxHttpRequest, slug: str, run_id: int) -> HttpResponse:
    """Run a failed run again from the step that failed. Writers only."""

    def retry(run: AgentRun) -> str:
        if not _retryable(run) and run.status == AgentRun.Status.FAILED:
            raise DomainError(
                "Only a built-in agent's task run can be retried here; "
                "an external agent claims its task again itself."
            )
        orchestrator.run_retry(run=run)
        return f"Retrying run {run.pk} from the step that failed."

    return _run_action(request, slug, run_id, retry)


# Activity feed ---------------------------------------------------------------------------


@dataclass
class ShownActivity:
    at: datetime
    kind: str
    agent: str
    summary: str
    status: str = ""
    status_label: str = ""
    run_id: int | None = None
    task: Task | None = None
    details: list[tuple[str, str]] = field(default_factory=list)


def _agent_name(agent: Agent | None) -> str:
    return agent.name if agent is not None else ""


def _shown_activity(entry: selectors.ActivityEntry) -> ShownActivity:
    item = entry.item
    if entry.kind == "tool_call":
        call = _shown_call(item, ended=False)
        details = [("Input", call.input)]
        if call.output:
            details.append(("Output", call.output))
        if call.error:
            details.append(("Error", call.error))
        duration = f" in {call.duration_ms} ms" if call.duration_ms is not None else ""
        return ShownActivity(
            at=entry.at,
            kind=entry.kind,
            agent=_agent_name(item.agent),
            summary=f"called {item.tool_name}{duration}",
            status=call.status,
            status_label=call.label,
            run_id=item.run_id,
            task=item.task,
            details=details,
        )
    if entry.kind == "decision":
        return ShownActivity(
            at=entry.at,
            kind=entry.kind,
            agent=_agent_name(item.agent),
            summary=item.decision,
            run_id=item.run_id,
            task=item.task,
            details=[("Reasoning", _pretty(item.reasoning))] if item.reasoning else [],
        )
    if entry.kind in ("cycle_opened", "cycle_closed"):
        closed = entry.kind == "cycle_closed"
        values = item.outcomes if closed else item.goals
        return ShownActivity(
            at=entry.at,
            kind=entry.kind,
            agent=_agent_name(item.agent),
            summary=f"{'closed' if closed else 'opened'} planning cycle "
            f"{item.opened_id if closed else item.pk}",
            status=item.status if closed else "",
            status_label=item.get_status_display().lower() if closed else "",
            run_id=item.run_id,
            details=[("Outcomes" if closed else "Goals", _pretty(values))] if values else [],
        )
    run = item
    if entry.kind == "run_started":
        summary = f"started run {run.pk}" + (f" (attempt {run.attempt})" if run.attempt > 1 else "")
        return ShownActivity(
            at=entry.at,
            kind=entry.kind,
            agent=_agent_name(run.agent),
            summary=summary,
            run_id=run.pk,
            task=run.task,
        )
    return ShownActivity(
        at=entry.at,
        kind=entry.kind,
        agent=_agent_name(run.agent),
        summary=f"run {run.pk} ended",
        status=run.status,
        status_label=run.get_status_display().lower(),
        run_id=run.pk,
        task=run.task,
        details=[("Error", run.error)] if run.error else [],
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def activity(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The project's latest 100 events, newest first: tool calls, decisions, planning
    cycles, runs started and finished. Non-members get 404.

    `#activity-feed` polls every 2 s while the project hands out work (it is planning or
    active: external agents may claim then) or a run is active. A poll names the feed it
    shows (`?seen=`) and gets 204 while nothing changed, so opened <details> stay open.
    """
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    template_name = "agents/activity.html"
    entries = [_shown_activity(e) for e in selectors.activity_list(project=project)]
    seen = hashlib.blake2s(
        repr([(e.kind, e.at, e.summary, e.status) for e in entries]).encode(), digest_size=8
    ).hexdigest()
    feed_live = project.status not in NOT_CLAIMING or selectors.agent_run_has_active(
        project=project
    )
    if wants_fragment(request):
        if feed_live and request.GET.get("seen") == seen:
            return HttpResponse(status=204)
        template_name += "#activity-feed"
    context = {
        "project": project,
        "entries": entries,
        "limit": selectors.ACTIVITY_LIMIT,
        "feed_live": feed_live,
        "seen": seen,
    }
    return render(request, template_name, context)


# Metrics ---------------------------------------------------------------------------------

METRIC_DAY_CHOICES = (7, 30, 90)
DEFAULT_METRIC_DAYS = 30
NO_AGENT = "(no agent)"
NO_MODEL = "(unknown model)"


@dataclass
class UsageTable:
    rows: list[dict[str, Any]]
    tokens: float
    cost: float
    calls: int


def _usage_charts(rows: list[dict[str, Any]], days: list[date]) -> tuple[SafeString, SafeString]:
    index = {day: i for i, day in enumerate(days)}
    keys = sorted({(row["agent"], row["model"]) for row in rows})
    tokens = {key: [0.0] * len(days) for key in keys}
    cost = {key: [0.0] * len(days) for key in keys}
    for row in rows:
        i = index.get(row["day"])
        if i is None:
            continue  # an external agent may report a time outside the range
        tokens[row["agent"], row["model"]][i] += row["tokens"]
        cost[row["agent"], row["model"]][i] += row["cost"]
    categories = [day.isoformat() for day in days]
    labels = [day.strftime("%b %d") if len(days) <= 31 else day.strftime("%m-%d") for day in days]

    def chart(
        chart_id: str,
        title: str,
        values: dict[tuple[str, str], list[float]],
        y_title: str,
        fmt: Callable[[float], str],
        tick: Callable[[float], str],
    ) -> SafeString:
        return charts.stacked_bar_chart(
            chart_id=chart_id,
            title=title,
            categories=categories,
            category_labels=labels,
            series=[
                charts.Series(f"{agent} · {model}", values[agent, model]) for agent, model in keys
            ],
            x_title="Day (UTC)",
            y_title=y_title,
            format_value=fmt,
            format_tick=tick,
        )

    return (
        chart(
            "chart-tokens",
            "Tokens per day, by agent and model",
            tokens,
            "Tokens",
            lambda v: f"{v:,.0f} tokens",
            charts.compact_number,
        ),
        chart(
            "chart-cost",
            "Cost per day, by agent and model",
            cost,
            "Cost (USD)",
            charts.dollars,
            charts.dollars,
        ),
    )


@login_required
@require_GET
def metrics(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Tokens and cost per agent and model per day, as a table and as SVG bar charts
    drawn on the server, over the last 7, 30 or 90 days (`?days=`). Non-members get 404."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    try:
        day_count = int(request.GET.get("days", DEFAULT_METRIC_DAYS))
    except ValueError:
        day_count = DEFAULT_METRIC_DAYS
    if day_count not in METRIC_DAY_CHOICES:
        day_count = DEFAULT_METRIC_DAYS
    first = timezone.now().astimezone(UTC).date() - timedelta(days=day_count - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    rows = [
        {
            "day": row["day"],
            "agent": row["agent__name"] or NO_AGENT,
            "agent_id": row["agent_id"],
            "model": row["model"] or NO_MODEL,
            "tokens": row["tokens"] or 0.0,
            "cost": row["cost"] or 0.0,
            "calls": row["calls"],
        }
        for row in selectors.usage_by_day(project=project, since=since)
    ]
    days = [first + timedelta(days=n) for n in range(day_count)]
    context: dict[str, Any] = {
        "project": project,
        "day_count": day_count,
        "day_choices": METRIC_DAY_CHOICES,
        "first_day": first,
        "table": UsageTable(
            rows=sorted(rows, key=lambda r: (r["day"], r["agent"], r["model"]), reverse=True),
            tokens=sum(r["tokens"] for r in rows),
            cost=sum(r["cost"] for r in rows),
            calls=sum(r["calls"] for r in rows),
        ),
    }
    if rows:
        context["tokens_chart"], context["cost_chart"] = _usage_charts(rows, days)
    return render(request, "agents/metrics.html", context)


# Human-checkpoint inbox ------------------------------------------------------------------


@dataclass
class ShownOption:
    id: str
    name: str
    pros: list[str]
    cons: list[str]


@dataclass
class ShownCheckpoint:
    task: Task
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
        return [v if isinstance(v, str) else _pretty(v) for v in value]
    return [value if isinstance(value, str) else _pretty(value)]


def _text(value: Any) -> str:
    return "\n".join(_texts(value))


def _shown_checkpoint(task: Task) -> ShownCheckpoint:
    extra = task.extra if isinstance(task.extra, dict) else {}
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
    items = [_shown_checkpoint(t) for t in orchestrator.human_checkpoint_list(project=project)]
    general_error = error
    for item in items:
        if error and answered is not None and item.task.pk == answered.pk:
            # Shown on the item, with the note kept, so it can be answered again.
            item.note, item.error, general_error = note, error, ""
    return {
        "project": project,
        "can_write": membership.can_write,
        "ready": [i for i in items if i.task.is_ready],
        "waiting": [
            i for i in items if not i.task.is_ready and i.task.status == Task.Status.PENDING
        ],
        "set_aside": [
            i for i in items if not i.task.is_ready and i.task.status != Task.Status.PENDING
        ],
        "notice": notice,
        "error": general_error,
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
def inbox(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The `checkpoint:*` tasks waiting for a person: what to verify or the options to
    choose from, with Approve and Reject (or one button per option) for writers; those
    still waiting on other tasks are listed apart, without buttons."""
    project, membership = planning_selectors.project_for_user(user=request.user, slug=slug)
    template_name = "agents/inbox.html"
    if wants_fragment(request):
        template_name += "#inbox"
    return render(request, template_name, _inbox_context(project, membership))


class CheckpointAnswerForm(forms.Form):
    verdict = forms.ChoiceField(
        choices=[("approve", "approve"), ("reject", "reject")], required=False
    )
    choice = forms.CharField(max_length=100, required=False)
    note = forms.CharField(max_length=2000, required=False, widget=forms.Textarea)


def _verdict(task: Task, verdict: str, choice: str) -> str:
    if verdict == "reject":
        return f"You rejected {task.key}; it is blocked now."
    if choice:
        names = {
            str(o.get("id")): o.get("name") or o.get("id")
            for o in task.extra.get("options", [])
            if isinstance(o, dict)
        }
        return f"You chose “{names.get(choice, choice)}” for {task.key}."
    return f"You approved {task.key}."


@login_required
@require_POST
def inbox_answer(request: HtmxHttpRequest, slug: str, task_id: int) -> HttpResponse:
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
        error = "; ".join(m for errors in form.errors.values() for m in errors)
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
@require_GET
def inbox_count(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The project tabs' badge: how many checkpoints are ready for a person."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    context = {
        "project": project,
        "inbox_count": selectors.human_checkpoint_ready_count(project=project),
    }
    return render(request, "includes/project_nav.html#inbox-count", context)
