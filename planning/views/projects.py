"""The project list with the form that creates a project, the project page with its plan
tree, and a task's status row."""

import hashlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import (
    condition,
    require_GET,
    require_http_methods,
    require_POST,
)
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from core.errors import DomainError
from core.htmx import (
    AuthenticatedHtmxRequest,
    redirect_or_client_redirect,
    wants_fragment,
)
from planning import outline, selectors, services
from planning.forms import ProjectCreateForm, TaskStatusForm
from planning.models import Project, Task
from planning.views import live, project_page

PROJECTS_PER_PAGE = 25


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request: AuthenticatedHtmxRequest) -> HttpResponse:
    """The user's projects, and the form that creates one (POST)."""
    template_name = "planning/project_list.html"
    if request.method == "POST":
        form = ProjectCreateForm(request.POST)
        project = _create_project(request, form)
        if project is not None:
            messages.success(request, f"Created project “{project.name}”.")
            url = reverse("planning:project-detail", args=[project.slug])
            return redirect_or_client_redirect(request, url)
        if request.htmx:
            return render(request, f"{template_name}#project-form", {"form": form})
    else:
        form = ProjectCreateForm()
    projects = selectors.project_list_for_user(user=request.user, counts=False)
    page_obj = Paginator(projects, PROJECTS_PER_PAGE).get_page(request.GET.get("page"))
    selectors.with_task_counts(list(page_obj))
    return render(request, template_name, {"form": form, "page_obj": page_obj})


def _create_project(request: AuthenticatedHtmxRequest, form: ProjectCreateForm) -> Project | None:
    if not form.is_valid():
        return None
    try:
        return services.project_create(owner=request.user, **form.cleaned_data)
    except ValidationError as exc:
        # A slug taken between the form's check and the insert lands here.
        form.add_error(None, exc.messages)
    except DomainError as exc:
        form.add_error(None, exc.message)
    return None


def _summary_etag(request: AuthenticatedHtmxRequest, slug: str) -> str | None:
    """The live summary's ETag: the plan's change stamp (one query, which also checks
    membership), the features whose headers it brings and the task rows it brings. The
    whole page has none."""
    rows = ",".join(request.GET.getlist("row"))
    digest = hashlib.blake2b(rows.encode(), digest_size=6).hexdigest()
    return live.live_etag(request, slug, request.GET.get("features", ""), digest)


@login_required
@require_GET
@vary_on_headers("HX-Request")
@cache_control(private=True, no_cache=True)
@condition(etag_func=_summary_etag)
def project_detail(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The plan as an outline of collapsed features. htmx asks for `#plan-live` again
    when a task changes here, in another tab, or as agents work (the project header's
    poll says so): the summary, the project's badge, the headers of the features shown
    and the task rows open (`row`). An unchanged plan answers 304 (ETag), after one
    query."""
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    template_name = "planning/project_detail.html"
    if wants_fragment(request):
        features = project_page.shown_features(project, request.GET.get("features", ""))
        context = {
            "project": project,
            "can_write": membership.can_write,
            "status_choices": Task.Status.choices,
            "live_rows": project_page.shown_rows(project, request.GET.getlist("row")),
            **project_page.summary_context(project, features),
        }
        return render(request, template_name + "#plan-live", context)
    return render(
        request, template_name, project_page.project_detail_context(project, membership, request)
    )


@login_required
@require_POST
def task_status(request: AuthenticatedHtmxRequest, slug: str, key: str) -> HttpResponse:
    """Change a task's status and answer with its re-rendered row (`#task-row`).

    Viewers get 403 and non-members 404. An invalid status answers 400 with the row
    showing the error and the task unchanged. A change also answers with the statuses it
    rolled up into (`#task-status-changed`): the task's feature's, sub-feature's and
    project's badges, swapped in out of band.
    """
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task_for_row(project, key)
    form = TaskStatusForm(request.POST)
    error = None
    if form.is_valid():
        try:
            services.task_set_status(task=task, status=form.cleaned_data["status"])
        except (DomainError, ValidationError) as exc:
            error = exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
        # Read again: the service may have half-applied a change, and the roll-up has
        # moved the feature, sub-feature and project on.
        task = _task_for_row(project, key)
        project.refresh_from_db(fields=["status", "completed_at"])
    else:
        error = " ".join(str(message) for message in form.errors["status"])
    context = {
        "project": project,
        "task": task,
        "can_write": True,
        "status_choices": Task.Status.choices,
        "row_error": error,
    }
    response = render(
        request,
        "planning/project_detail.html#" + ("task-row" if error else "task-status-changed"),
        context,
        status=400 if error else 200,
    )
    if error is None:
        trigger_client_event(response, "plan-changed")
    return response


def _task_for_row(project: Project, key: str) -> Task:
    # The row shows what the plan page's task groups show.
    return get_object_or_404(outline.task_rows(project.tasks.all()), key=key)
