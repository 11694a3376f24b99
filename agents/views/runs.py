"""Runs: the project's run controls, the run list, a run's live timeline, and cancelling
or retrying one run."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from agents import selectors
from agents.models import Agent, AgentRun, AgentStep, ToolCall
from agents.run_usage import run_usage
from agents.services import orchestrator
from agents.services import runs as run_life
from agents.views.agents import confinement_context
from agents.views.run_display import (
    CALL_FINISHED,
    ShownStep,
    ShownToolCall,
    place_on_timeline,
    pretty,
    reasoning_items,
    shown_call,
    shown_steps,
)
from agents.views.run_logs import log_context
from agents.views.trace_pages import (
    live_loose_page,
    live_loose_seen,
    live_loose_summary,
    trace_page_summary,
    trace_pages,
)
from core.errors import DomainError
from core.htmx import (
    AuthenticatedHtmxRequest,
    HtmxHttpRequest,
    redirect_or_client_redirect,
    wants_fragment,
)
from planning import selectors as planning_selectors
from planning.models import Project

# Running the project ---------------------------------------------------------------------


def _project_run_action(
    request: HtmxHttpRequest, slug: str, action: Callable[[Project, Any], str]
) -> HttpResponse:
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    try:
        notice = action(project, request.user)
    except DomainError as exc:
        if request.htmx:
            context = {
                "project": project,
                "can_write": True,
                "run_error": exc.message,
                **confinement_context(project),
            }
            return render(request, "agents/agent_list.html#run-controls", context, status=400)
        messages.error(request, exc.message)
    else:
        messages.success(request, notice)
    return redirect_or_client_redirect(request, reverse("agents:agent-list", args=[project.slug]))


@login_required
@require_POST
def project_run_start(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
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
def project_run_pause(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Pause the project: no new runs; running ones stop at their next step. Writers only."""

    def pause(project: Project, user: Any) -> str:
        orchestrator.project_run_pause(project=project)
        return "Paused. No new runs start; running ones stop after their current step."

    return _project_run_action(request, slug, pause)


@login_required
@require_POST
def project_run_cancel(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Pause the project and cancel its active runs. Writers only."""

    def cancel(project: Project, user: Any) -> str:
        count = orchestrator.project_run_cancel(project=project)
        return f"Paused the project and cancelled {count} active run{pluralize(count)}."

    return _project_run_action(request, slug, cancel)


# Runs ------------------------------------------------------------------------------------

RUNS_PER_PAGE = 20


@login_required
@require_GET
@vary_on_headers("HX-Request")
def run_list(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The project's runs, newest first. The agents page loads `#run-table` (the latest
    runs), which polls itself every 2 s while the project runs or a run is active."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    template_name = "agents/run_list.html"
    if wants_fragment(request):
        template_name += "#run-table"
    paginator = Paginator(selectors.agent_run_overview_list(project=project), RUNS_PER_PAGE)
    page_obj = paginator.get_page(request.GET.get("page"))
    runs_live = project.status == Project.Status.ACTIVE or any(
        run.status in AgentRun.ACTIVE_STATUSES for run in page_obj
    )
    context = {
        "project": project,
        "page_obj": page_obj,
        "runs_live": runs_live,
        "runs_url": request.get_full_path(),
    }
    return render(request, template_name, context)


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
            return content if isinstance(content, str) else pretty(content)
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


def _place_on_timeline(
    run: AgentRun, steps: list[ShownStep], loose_calls: list[ShownToolCall]
) -> None:
    moments = [s.started_at for s in steps] + [c.at for c in loose_calls if c.at]
    start = run.started_at or min(moments, default=None)
    ends = [s.finished_at for s in steps if s.finished_at] + [
        c.at + timedelta(milliseconds=c.duration_ms or 0) for c in loose_calls if c.at
    ]
    end = max([run.finished_at, *ends] if run.finished_at else ends, default=None)
    if start is not None and end is not None:
        place_on_timeline(steps, loose_calls, start=start, end=end)


# Up to this many tool calls, a run page carries every call's input and output.
INLINE_CALLS = 50


@login_required
@require_GET
@vary_on_headers("HX-Request")
def run_detail(request: AuthenticatedHtmxRequest, slug: str, run_id: int) -> HttpResponse:
    """A run's timeline: each step's reply and tool calls, the run's decisions, token use
    and error, with Cancel and Retry for writers. Non-members get 404.

    While the run is queued or running, the last item of the timeline (`#run-live`) polls
    `?after=<last finished step>` every 2 s; the answer (`#run-poll`) appends the steps
    finished since, replaces the live item and refreshes the summary and decisions out of
    band. Once the run has ended the answer carries no poller, so polling stops, except
    while a step it was in still runs to its end (a cancel stops the run between steps).
    Finished steps never change, so their opened <details> stay open. An ended run of
    more than STEPS_PER_PAGE steps, or LOOSE_CALLS_PER_PAGE calls outside a step, shows
    a page of them (`?page=`) in the order they happened, with the calls of those steps.
    A live run's calls outside a step come a page at a time too, the latest page unless
    `?page=` names an earlier one, which the poll then keeps refreshing.
    """
    project, membership = planning_selectors.project_for_user(user=request.user, slug=slug)
    run = selectors.agent_run_get(project=project, run_id=run_id)
    template_name = "agents/run_detail.html"
    fragment = wants_fragment(request)
    after = _after(request) if fragment else 0
    if fragment:
        template_name += "#run-poll"
    live = run.status in AgentRun.ACTIVE_STATUSES
    step_rows = list(selectors.agent_step_list(run=run, after=after))
    polling = live or _step_settling(run, step_rows)
    trace_page, page_summary, first_step, loose_summary = None, "", 0, ""
    upto_step: int | None = None
    loose_ids: list[int] | QuerySet[ToolCall, int] | None = None
    loose_page: Page[int] | None = None
    if not fragment and not polling:
        # An ended run's trace a page at a time: a long run's every step and tool call
        # (or an external agent's thousands of calls) made a page of megabytes.
        pages = trace_pages(step_rows, selectors.run_loose_call_times(run=run))
        if len(pages) > 1:
            trace_page = Paginator(pages, 1).get_page(request.GET.get("page"))
            page = pages[trace_page.number - 1]
            page_summary = trace_page_summary(page, pages, external=_is_external(run))
            step_rows, loose_ids, first_step = page.steps, page.loose_ids, page.first_step
            after, upto_step = page.after_step, page.upto_step
    else:
        # The poll brings a live run's new steps; its calls outside a step (an external
        # agent's thousands) it brings a page at a time, or every poll rendered them all.
        loose_page, loose_ids = live_loose_page(
            selectors.run_loose_call_ids(run=run), request.GET.get("page")
        )
        loose_summary = live_loose_summary(loose_page, external=_is_external(run))
    steps, loose_calls = shown_steps(
        step_rows,
        list(
            selectors.run_tool_call_list(
                run=run, after_step=after, upto_step=upto_step, loose_ids=loose_ids
            )
        ),
        ended=not polling,
    )
    # Finished steps go into the timeline for good; from the first unfinished one on,
    # the steps stay in the live item until they finish.
    finished: list[ShownStep] = []
    unfinished: list[ShownStep] = []
    for step in steps:
        if polling and (unfinished or step.status == AgentStep.Status.RUNNING):
            unfinished.append(step)
        else:
            finished.append(step)
    usage = run_usage(run=run)
    for step in steps:
        if step.number in usage.by_step:
            step_usage = usage.by_step[step.number]
            step.tokens = step_usage.tokens
            step.cost = step_usage.cost if step_usage.cost_reports else None
    calls_shown = sum(len(step.tool_calls) for step in steps) + len(loose_calls)
    if not fragment and not polling:
        # An ended run's waterfall: every bar on the same scale, the run's whole span.
        _place_on_timeline(run, steps, loose_calls)
    decisions = [
        (decision, reasoning_items(decision.reasoning))
        for decision in selectors.run_decision_list(run=run)
    ]
    # The poll names what it has shown, so sections whose <details> a reader may have
    # opened are only replaced when they changed.
    decisions_seen = str(decisions[-1][0].pk if decisions else 0)
    finished_calls = sum(c.status in CALL_FINISHED for c in loose_calls)
    loose_calls_seen = (
        live_loose_seen(loose_page, finished_calls)
        if loose_page is not None
        else f"{len(loose_calls)}.{finished_calls}"
    )
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
        # The last poll redraws them once more: an ended run's are no longer "yet" to come.
        "decisions_changed": request.GET.get("decisions") != decisions_seen or not polling,
        "loose_calls_seen": loose_calls_seen,
        # The last poll redraws them too: a call never finished is no longer "running".
        "loose_calls_changed": request.GET.get("calls") != loose_calls_seen or not polling,
        "loose_page": loose_page,
        "loose_summary": loose_summary,
        # The pager's links lead to the page alone, not to the poll that drew them.
        "loose_page_query": QueryDict(),
        "usage": usage,
        "external": _is_external(run),
        # A long trace sends each call's input and output when the call is opened.
        "lazy_calls": calls_shown > INLINE_CALLS,
        "calls_url": reverse("agents:run-detail", args=[project.slug, run.pk]) + "calls/",
        "oob": fragment,
        "trace_page": trace_page,
        "page_summary": page_summary,
        "first_step": first_step,
    }
    if not fragment:
        context["goal"] = _goal(run)
        context.update(log_context(run))
    return render(request, template_name, context)


def _is_external(run: AgentRun) -> bool:
    return run.agent.type == Agent.Type.EXTERNAL


@login_required
@require_GET
def run_tool_call(
    request: AuthenticatedHtmxRequest, slug: str, run_id: int, call_id: int
) -> HttpResponse:
    """One logged tool call's input, output and error: what a long trace's call shows
    when it is opened. Non-members get 404."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    call = selectors.run_tool_call_get(project=project, run_id=run_id, call_id=call_id)
    context = {"call": shown_call(call, ended=call.completion is not None)}
    return render(request, "agents/run_detail.html#tool-call-body", context)


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
def run_cancel(request: AuthenticatedHtmxRequest, slug: str, run_id: int) -> HttpResponse:
    """Cancel a queued or running run; its task goes back to pending. Writers only."""
    who = request.user.get_username()

    def cancel(run: AgentRun) -> str:
        run_life.run_cancel(run=run, reason=f"cancelled by {who}")
        return f"Cancelled run {run.pk}. It stops at its next step boundary."

    return _run_action(request, slug, run_id, cancel)


@login_required
@require_POST
def run_retry(request: AuthenticatedHtmxRequest, slug: str, run_id: int) -> HttpResponse:
    """Run a failed run again from the step that failed. Writers only."""

    def retry(run: AgentRun) -> str:
        if not _retryable(run) and run.status == AgentRun.Status.FAILED:
            raise DomainError(
                "Only a built-in agent's task run can be retried here; "
                "an external agent claims its task again itself."
            )
        run_life.run_retry(run=run)
        return f"Retrying run {run.pk} from the step that failed."

    return _run_action(request, slug, run_id, retry)
