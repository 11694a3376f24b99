"""Generating a plan from requirements, and the planning run's progress, which polls
until the run ends."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from agents.models import AgentRun
from core.errors import DomainError
from core.htmx import HtmxHttpRequest
from planning import selectors
from planning.forms import PlanGenerateForm
from planning.models import Project
from planning.services.generation import plan_generation_start
from planning.views.project_page import project_detail_context, run_context


def _run_progress(request: HtmxHttpRequest, project: Project, run: AgentRun) -> HttpResponse:
    context = {"project": project, **run_context(run)}
    response = render(request, "planning/project_detail.html#run-progress", context)
    if run.status == AgentRun.Status.SUCCEEDED:
        # The poll that sees the run finish tells the page to refresh what shows the plan.
        trigger_client_event(response, "plan-changed")
    return response


@login_required
@require_POST
def plan_generate(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Queue a planning run for the posted requirements and answer with its progress
    (`#plan-run`), which polls until the run ends.

    Empty requirements, or a generation already under way, queue nothing and answer 400
    with the form (`#plan-generate-form` for htmx) showing why.
    """
    project, membership = selectors.project_for_user(user=request.user, slug=slug, write=True)
    form = PlanGenerateForm(request.POST)
    if form.is_valid():
        try:
            run = plan_generation_start(
                project=project,
                requirements=form.cleaned_data["requirements"],
                actor=request.user,
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if request.htmx:
                return _run_progress(request, project, run)
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
@require_GET
def run_progress(request: HtmxHttpRequest, slug: str, run_id: int) -> HttpResponse:
    """A planning run's status, stage and attempt (`#plan-run`).

    While the run is queued or running the fragment polls itself every 2 s; once it has
    ended it shows the outcome and stops. A succeeded run also sends "plan-changed".
    """
    project, _ = selectors.project_for_user(user=request.user, slug=slug)
    run = selectors.planning_run_get(project=project, run_id=run_id)
    return _run_progress(request, project, run)
