"""Importing a plan file from the project page: straight away, after a preview of a file
from another source and the choice to replace the plan or merge, or, for a large file,
by a worker whose progress the page polls until the import has ended."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from core.htmx import AuthenticatedHtmxRequest, redirect_or_client_redirect
from planning import selectors
from planning.forms import ImportJobChoiceForm, PlanImportChoiceForm, PlanImportForm
from planning.importers import ImportSource
from planning.importers.document import PlanImportError
from planning.models import ImportJob, Project
from planning.services.import_jobs import (
    ImportJobStateError,
    import_job_choose,
    import_job_create,
    import_wanted_in_background,
)
from planning.services.import_stash import (
    import_stash_drop,
    import_stash_load,
    import_stash_save,
)
from planning.services.imports import (
    ImportMode,
    ImportOutcome,
    ImportPreview,
    plan_import,
    preview_record_as_dict,
)
from planning.views.project_page import project_detail_context

PREVIEW_PAGE = 50
WARNINGS_SHOWN = 10
JOB_PAGE = "planning/import_job.html"
JOB_FRAGMENT = f"{JOB_PAGE}#import-job"


@login_required
@require_POST
def project_import(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Import an uploaded plan file into the project, then go back to its page.

    A file over IMPORT_ASYNC_BYTES is imported by a worker: the answer is its progress,
    then (for a file from another source) its preview and the same two buttons.
    A file from a source the plan did not come from is kept on the server and the form
    shows its preview, with buttons to replace the plan or merge (posting `stash` and
    `mode`; no `mode` shows another page). A file that cannot be imported writes nothing
    and answers 400 with the form (`#plan-import-form` for htmx) showing the importer's
    "file:line: message".
    """
    project, membership = selectors.project_for_user(user=request.user, slug=slug, write=True)
    choice = PlanImportChoiceForm(request.POST) if "stash" in request.POST else None
    form = PlanImportForm(None if choice else request.POST, request.FILES or None)
    preview: ImportPreview | None = None
    token, fmt, page, data, import_error = "", "auto", 1, b"", ""
    try:
        if choice is not None:
            if not choice.is_valid():
                raise PlanImportError("the choice was not understood: choose the file again")
            token, fmt = choice.cleaned_data["stash"], choice.cleaned_data["format"]
            source = import_stash_load(project=project, token=token)
            mode = choice.cleaned_data["mode"] or ImportMode.ASK
            page = choice.cleaned_data["page"] or 1
        elif form.is_valid():
            upload = form.cleaned_data["file"]
            if import_wanted_in_background(size=upload.size or 0):
                return import_job_started(request, project, upload, form.cleaned_data["format"])
            data = upload.read()
            source = ImportSource.from_bytes(upload.name, data)
            fmt, mode = form.cleaned_data["format"], ImportMode.ASK
        else:
            source = None
        if source is not None:
            outcome = plan_import(
                project=project, source=source, fmt=fmt, actor=request.user, mode=mode
            )
            if outcome.preview is None:
                if token:
                    import_stash_drop(project=project, token=token)
                _report_import(request, source.name, outcome)
                url = reverse("planning:project-detail", args=[project.slug])
                return redirect_or_client_redirect(request, url)
            preview = outcome.preview
            if not token:
                token = import_stash_save(project=project, name=source.name, data=data)
    except PlanImportError as exc:
        if form.is_bound:
            form.add_error("file", str(exc))
        else:
            import_error = str(exc)
    preview_page = preview.page(page, PREVIEW_PAGE) if preview else None
    context = {
        "import_error": import_error,
        "project": project,
        "import_form": form,
        "import_preview": preview,
        "preview_page": preview_page,
        "preview_sections": [
            ("Added", preview_page["added"]),
            ("Changed", preview_page["changed"]),
            ("Not in the file", preview_page["removed"]),
        ]
        if preview_page
        else [],
        "import_stash": token,
        "import_format": fmt if preview else "",
    }
    code = 200 if preview else 400
    if request.htmx:
        return render(
            request, "planning/project_detail.html#plan-import-form", context, status=code
        )
    context = project_detail_context(
        project,
        membership,
        import_form=form,
        import_error=import_error,
        import_preview=preview,
        preview_page=preview_page,
        preview_sections=context["preview_sections"],
        import_stash=token,
        import_format=context["import_format"],
    )
    return render(request, "planning/project_detail.html", context, status=code)


def _report_import(request: HttpRequest, name: str, outcome: ImportOutcome) -> None:
    assert outcome.result is not None  # applied: a preview is shown, not reported
    if outcome.version is not None:
        messages.success(
            request,
            f"Imported {name}: {outcome.result.summary()}; version {outcome.version.number}",
        )
    elif outcome.result.changed:
        messages.success(request, f"Imported {name}: {outcome.result.summary()}; no new version")
    else:
        messages.info(request, f"Imported {name}: no changes")
    for warning in outcome.warnings[:WARNINGS_SHOWN]:
        messages.warning(request, warning)
    if len(outcome.warnings) > WARNINGS_SHOWN:
        messages.warning(request, f"…and {len(outcome.warnings) - WARNINGS_SHOWN} more warnings.")


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
        return render(request, JOB_FRAGMENT, _job_context(project, job))
    messages.info(request, f"Importing {job.file_name} in the background.")
    return redirect("planning:import-job", project.slug, job.pk)


@login_required
@require_GET
def import_job_detail(request: AuthenticatedHtmxRequest, slug: str, job_id: int) -> HttpResponse:
    """An import job's status, stage and progress (`#import-job` for htmx). While it is
    queued or running the fragment polls itself every 2 s; once it has ended it shows the
    outcome and stops. A succeeded job also sends "plan-changed"."""
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    job = selectors.import_job_get(project=project, job_id=job_id)
    page = request.GET.get("page", "1")
    context = _job_context(project, job, page=int(page) if page.isdigit() else 1)
    context["can_write"] = membership.can_write
    context["rows"] = selectors.import_job_rows(job=job)
    if request.htmx and not request.htmx.boosted:
        response = render(request, JOB_FRAGMENT, context)
        if job.status == ImportJob.Status.SUCCEEDED:
            trigger_client_event(response, "plan-changed")
        return response
    return render(request, JOB_PAGE, context)


def _job_context(project: Project, job: ImportJob, *, page: int = 1) -> dict[str, Any]:
    """A job's page; for one waiting for a choice, a page of its preview."""
    context: dict[str, Any] = {"project": project, "job": job, "can_write": True}
    if job.status == ImportJob.Status.AWAITING_CHOICE and "preview" in job.result:
        preview = preview_record_as_dict(job.result["preview"], page=page, size=PREVIEW_PAGE)
        tasks = preview["tasks"]
        context["job_preview"] = preview
        context["preview_sections"] = [
            ("Added", tasks["added"]),
            ("Changed", tasks["changed"]),
            ("Not in the file", tasks["removed"]),
        ]
    return context


@login_required
@require_POST
def import_job_choice(request: AuthenticatedHtmxRequest, slug: str, job_id: int) -> HttpResponse:
    """Replace the plan with a previewed file, merge it in, or cancel it. The job is
    queued again (its page polls it) or ends; a job no longer waiting for a choice shows
    why (409)."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    job = selectors.import_job_get(project=project, job_id=job_id)
    form = ImportJobChoiceForm(request.POST)
    error, status = "", 200
    if not form.is_valid():
        error, status = "Choose replace, merge or cancel.", 400
    else:
        try:
            job = import_job_choose(job=job, mode=form.cleaned_data["mode"])
        except ImportJobStateError as exc:
            error, status = str(exc), 409
    if status == 200 and not request.htmx:
        return redirect("planning:import-job", project.slug, job.pk)
    context = {**_job_context(project, job), "choice_error": error}
    return render(request, JOB_FRAGMENT if request.htmx else JOB_PAGE, context, status=status)
