"""A plan import a worker carries out: its progress on the project page, polled until
the import has ended, and its own page for browsers without htmx."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from django_htmx.http import trigger_client_event

from core.htmx import AuthenticatedHtmxRequest
from planning import selectors
from planning.models import ImportJob, Project
from planning.services.import_jobs import import_job_create

PAGE = "planning/import_job.html"
FRAGMENT = f"{PAGE}#import-job"


def import_job_started(
    request: AuthenticatedHtmxRequest, project: Project, upload: UploadedFile, fmt: str
) -> HttpResponse:
    """Store the upload as a job for a worker; answer with its progress (htmx, in place
    of the import form) or its page."""
    job = import_job_create(
        project=project,
        file_name=upload.name or "upload",
        data=upload.read(),
        fmt=fmt,
        actor=request.user,
    )
    if request.htmx:
        return render(request, FRAGMENT, {"project": project, "job": job})
    messages.info(request, f"Importing {job.file_name} in the background.")
    return redirect("planning:import-job", project.slug, job.pk)


@login_required
@require_GET
def import_job_detail(request: AuthenticatedHtmxRequest, slug: str, job_id: int) -> HttpResponse:
    """An import job's status, stage and progress (`#import-job` for htmx). While it is
    queued or running the fragment polls itself every 2 s; once it has ended it shows the
    outcome and stops. A succeeded job also sends "plan-changed"."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug)
    job = selectors.import_job_get(project=project, job_id=job_id)
    context = {"project": project, "job": job}
    if request.htmx and not request.htmx.boosted:
        response = render(request, FRAGMENT, context)
        if job.status == ImportJob.Status.SUCCEEDED:
            trigger_client_event(response, "plan-changed")
        return response
    return render(request, PAGE, context)
