"""The planning agent's pages, beside the plan's: generating a plan (with its run's
progress, which polls until the run ends) and the chat assistant's replies.

They answer with fragments of the planning pages they serve: the project page's generate
form and run progress, and the chat's transcript.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from agents import selectors
from agents.models import AgentRun
from agents.services import planner
from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, HtmxHttpRequest
from planning import selectors as planning_selectors
from planning.forms import ChatMessageForm, PlanGenerateForm
from planning.models import ConversationMessage, Project
from planning.views.chat import chat_context, chat_entry
from planning.views.project_page import project_detail_context

PLAN_RUN_FRAGMENT = "planning/project_detail.html#run-progress"


def _plan_run(
    request: HtmxHttpRequest, project: Project, run: AgentRun | None, retry_error: str = ""
) -> HttpResponse:
    """`#plan-run`: the run's status, stage and attempt; `run_live` keeps it polling. A
    failed or cancelled run shows its requirements and offers to retry them."""
    context = {
        "project": project,
        "run": run,
        "run_live": run is not None and run.status in AgentRun.ACTIVE_STATUSES,
        "max_attempts": planner.MAX_ATTEMPTS,
        "retry_error": retry_error,
    }
    return render(request, PLAN_RUN_FRAGMENT, context)


@login_required
@require_POST
def plan_generate(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Queue a planning run for the posted requirements and answer with its progress
    (`#plan-run`), which polls until the run ends.

    Empty requirements, or a generation already under way, queue nothing and answer 400
    with the form (`#plan-generate-form` for htmx) showing why.
    """
    project, membership = planning_selectors.project_for_user(
        user=request.user, slug=slug, write=True
    )
    form = PlanGenerateForm(request.POST)
    if form.is_valid():
        try:
            run = planner.plan_generation_start(
                project=project,
                requirements=form.cleaned_data["requirements"],
                actor=request.user,
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if request.htmx:
                return _plan_run(request, project, run)
            messages.info(request, "Generating a plan; progress shows below.")
            return redirect("planning:project-detail", project.slug)
    if request.htmx:
        context = {"project": project, "generate_form": form}
        response = render(
            request, "planning/project_detail.html#plan-generate-form", context, status=400
        )
        # The form targets the progress panel; its errors belong in the form itself.
        return reswap(retarget(response, "#plan-generate-form"), "outerHTML")
    context = project_detail_context(project, membership, generate_form=form)
    return render(request, "planning/project_detail.html", context, status=400)


@login_required
@require_POST
def plan_retry(request: AuthenticatedHtmxRequest, slug: str, run_id: int) -> HttpResponse:
    """Queue a new generation with a failed one's requirements, and answer with its
    progress (`#plan-run`). A run that cannot be retried answers 400 with the failed
    run's panel and the reason."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    failed = selectors.planning_run_get(project=project, run_id=run_id)
    try:
        run = planner.plan_generation_retry(run=failed, actor=request.user)
    except DomainError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("planning:project-detail", project.slug)
        response = _plan_run(request, project, failed, retry_error=exc.message)
        response.status_code = 400
        return response
    if not request.htmx:
        messages.info(request, "Generating a plan again; progress shows below.")
        return redirect("planning:project-detail", project.slug)
    return _plan_run(request, project, run)


@login_required
@require_GET
def plan_run(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The project's latest plan generation (`#plan-run`), which the project page loads
    as it opens; an empty placeholder when there has been none."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    return _plan_run(request, project, selectors.planning_run_list(project=project).first())


@login_required
@require_GET
def run_progress(request: AuthenticatedHtmxRequest, slug: str, run_id: int) -> HttpResponse:
    """A planning run's status, stage and attempt (`#plan-run`).

    While the run is queued or running the fragment polls itself every 2 s; once it has
    ended it shows the outcome and stops. A succeeded run also sends "plan-changed".
    """
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug)
    run = selectors.planning_run_get(project=project, run_id=run_id)
    response = _plan_run(request, project, run)
    if run.status == AgentRun.Status.SUCCEEDED:
        # The poll that sees the run finish tells the page to refresh what shows the plan.
        trigger_client_event(response, "plan-changed")
    return response


@login_required
@require_POST
def chat_message_create(
    request: AuthenticatedHtmxRequest, slug: str, session_id: int
) -> HttpResponse:
    """Send a message and answer with it and the assistant's reply (`#chat-exchange`), to
    append to the transcript, plus a fresh form swapped in out of band.

    An empty message answers 400 with the form (`#chat-form` for htmx) showing the error.
    """
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    session = planning_selectors.chat_session_get(project=project, session_id=session_id)
    form = ChatMessageForm(request.POST)
    if form.is_valid():
        try:
            reply = planner.chat_message_send(
                session=session, content=form.cleaned_data["content"], actor=request.user
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if not request.htmx:
                url = reverse("planning:chat-detail", args=[project.slug, session.pk])
                return redirect(f"{url}#chat-message-{reply.pk}")
            question = (
                planning_selectors.chat_message_list(session=session)
                .filter(role=ConversationMessage.Role.USER, pk__lt=reply.pk)
                .last()
            )
            context = {
                "project": project,
                "session": session,
                "can_write": True,
                "exchange": [chat_entry(m) for m in (question, reply) if m is not None],
                "message_form": ChatMessageForm(),
            }
            return render(request, "planning/chat_detail.html#chat-exchange", context)
    if request.htmx:
        context = {"project": project, "session": session, "message_form": form}
        response = render(request, "planning/chat_detail.html#chat-form", context, status=400)
        # The form appends to the transcript; its errors belong in the form itself.
        return reswap(retarget(response, "#chat-form"), "outerHTML")
    context = chat_context(project, session, can_write=True, message_form=form)
    return render(request, "planning/chat_detail.html", context, status=400)
