"""Importing a plan file, exporting the plan, and the plan's versions: the list with the
form that saves one, one version, restoring one, and two versions side by side."""

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.htmx import AuthenticatedHtmxRequest, redirect_or_client_redirect
from planning import selectors
from planning.diff import FieldChange, PlanDiff, diff_snapshots
from planning.exporters import EXPORT_FORMATS, export_plan
from planning.forms import PlanImportChoiceForm, PlanImportForm, VersionCreateForm
from planning.importers import ImportSource
from planning.importers.document import PlanDocument, PlanImportError
from planning.models import DevPlan, DevPlanVersion, Project
from planning.services.import_stash import (
    import_stash_drop,
    import_stash_load,
    import_stash_save,
)
from planning.services.imports import ImportMode, ImportOutcome, ImportPreview, plan_import
from planning.services.versions import version_create, version_restore
from planning.views.project_page import EXPORT_CHOICES, project_detail_context

VERSIONS_PER_PAGE = 25
PREVIEW_PAGE = 50
WARNINGS_SHOWN = 10
WORKING = "working"
# The diff page's sections, in the order the plan reads top-down.
DIFF_KINDS = [
    ("features", "Features"),
    ("sub_features", "Sub-features"),
    ("tasks", "Tasks"),
    ("requirements", "Requirements"),
]


@login_required
@require_POST
def project_import(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Import an uploaded plan file into the project, then go back to its page.

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


@login_required
@require_GET
def project_export(request: AuthenticatedHtmxRequest, slug: str, fmt: str) -> HttpResponse:
    """The working plan as a download in `fmt` (see EXPORT_CHOICES)."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug)
    document = selectors.plan_document(project=project)
    return _download(document, fmt=fmt, title=project.name)


@login_required
@require_GET
def version_export(
    request: AuthenticatedHtmxRequest, slug: str, number: int, fmt: str
) -> HttpResponse:
    """Version `number` as a download in `fmt`. Unknown versions and formats are 404."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug)
    version = selectors.version_get(project=project, number=number)
    document = PlanDocument.from_snapshot(version.snapshot)
    return _download(document, fmt=fmt, title=f"{project.name} v{version.number}")


def _download(document: PlanDocument, *, fmt: str, title: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        raise Http404(f"No export format {fmt!r}.")
    exported = export_plan(document, fmt=fmt, title=title)
    response = HttpResponse(exported.content, content_type=exported.content_type)
    disposition = content_disposition_header(True, exported.filename)
    assert disposition is not None  # None only for an inline file without a name
    response["Content-Disposition"] = disposition
    return response


def _versions(project: Project) -> QuerySet[DevPlanVersion]:
    # Version numbers in URLs belong to the project's main plan.
    return selectors.version_list(project=project).filter(plan__name=DevPlan.DEFAULT_NAME)


@login_required
@require_http_methods(["GET", "POST"])
def version_list(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The plan's versions, newest first, and the form that saves one (POST).

    Saving when nothing changed since the last version saves nothing and says so.
    """
    saving = request.method == "POST"
    project, membership = selectors.project_for_user(user=request.user, slug=slug, write=saving)
    template_name = "planning/version_list.html"
    form = VersionCreateForm(request.POST if saving else None)
    if saving:
        if form.is_valid():
            version = version_create(
                project=project,
                summary=form.cleaned_data["summary"] or "Saved by hand",
                actor=request.user,
            )
            if version is None:
                messages.info(request, "Nothing changed since the last version; nothing saved.")
            else:
                messages.success(request, f"Saved version {version.number}.")
            url = reverse("planning:version-list", args=[project.slug])
            return redirect_or_client_redirect(request, url)
        if request.htmx:
            context = {"project": project, "version_form": form}
            return render(request, f"{template_name}#version-form", context, status=400)
    paginator = Paginator(_versions(project), VERSIONS_PER_PAGE)
    context = {
        "project": project,
        "can_write": membership.can_write,
        "page_obj": paginator.get_page(request.GET.get("page")),
        "version_form": form,
        "export_formats": EXPORT_CHOICES,
    }
    return render(request, template_name, context, status=400 if saving else 200)


@login_required
@require_GET
def version_detail(request: AuthenticatedHtmxRequest, slug: str, number: int) -> HttpResponse:
    """One version: its summary and its Markdown, as stored."""
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    context = {
        "project": project,
        "can_write": membership.can_write,
        "version": selectors.version_get(project=project, number=number),
        "export_formats": EXPORT_CHOICES,
    }
    return render(request, "planning/version_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def version_restore_form(request: AuthenticatedHtmxRequest, slug: str, number: int) -> HttpResponse:
    """GET shows what restoring version `number` would change; POST restores it."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    version = selectors.version_get(project=project, number=number)
    if request.method == "POST":
        result, new_version = version_restore(version=version, actor=request.user)
        recorded = f" as version {new_version.number}" if new_version is not None else ""
        messages.success(request, f"Restored version {version.number}{recorded}.")
        if result.reset:
            shown = ", ".join(result.reset[:WARNINGS_SHOWN])
            more = (
                f" and {len(result.reset) - WARNINGS_SHOWN} more"
                if len(result.reset) > WARNINGS_SHOWN
                else ""
            )
            messages.warning(
                request,
                f"Back to pending, as version {version.number} holds them with another "
                f"meaning: {shown}{more}.",
            )
        url = reverse("planning:version-list", args=[project.slug])
        return redirect_or_client_redirect(request, url)
    working = selectors.plan_document(project=project).to_snapshot()
    context = {
        "project": project,
        "version": version,
        "plan_diff": diff_snapshots(working, version.snapshot),
    }
    return render(request, "planning/version_restore.html", context)


@login_required
@require_GET
def version_diff(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Two versions (or a version and the working plan) side by side.

    `?from=<n>&to=<m|working>`; `from` defaults to the latest version and `to` to the
    working plan. Unknown version numbers are 404.
    """
    project, _ = selectors.project_for_user(user=request.user, slug=slug)
    numbers = list(_versions(project).values_list("number", flat=True))
    from_param = request.GET.get("from") or (str(numbers[0]) if numbers else "")
    to_param = request.GET.get("to") or WORKING
    context: dict[str, object] = {
        "project": project,
        "numbers": numbers,
        "from_param": from_param,
        "to_param": to_param,
        "working": WORKING,
    }
    if from_param:
        before = _diff_side(project, from_param)
        after = _diff_side(project, to_param)
        context.update(
            before=before, after=after, sides=[before, after], same=before.param == after.param
        )
        if before.param != after.param:
            plan_diff = diff_snapshots(before.snapshot, after.snapshot)
            context.update(plan_diff=plan_diff, sections=_diff_sections(plan_diff))
    return render(request, "planning/version_diff.html", context)


@dataclass
class DiffSide:
    label: str
    param: str
    version: DevPlanVersion | None
    snapshot: dict[str, Any]


@dataclass
class DiffLine:
    text: str
    changed: bool


@dataclass
class FieldDiff:
    field: str
    before: list[DiffLine]
    after: list[DiffLine]


@dataclass
class ChangedRow:
    key: str
    name: str
    fields: list[FieldDiff]


@dataclass
class ListedRow:
    key: str
    name: str
    parent: str


@dataclass
class DiffSection:
    kind: str
    label: str
    added: list[ListedRow]
    removed: list[ListedRow]
    changed: list[ChangedRow]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    @property
    def anchor(self) -> str:
        return self.kind.replace("_", "-")


def _diff_side(project: Project, value: str) -> DiffSide:
    if value == WORKING:
        snapshot = selectors.plan_document(project=project).to_snapshot()
        return DiffSide(label="Working plan", param=WORKING, version=None, snapshot=snapshot)
    if not re.fullmatch(r"[0-9]{1,9}", value):
        raise Http404(f"No version {value!r}.")
    version = selectors.version_get(project=project, number=int(value))
    return DiffSide(
        label=f"Version {version.number}",
        param=str(version.number),
        version=version,
        snapshot=version.snapshot,
    )


def _diff_sections(plan_diff: PlanDiff) -> list[DiffSection]:
    return [
        DiffSection(
            kind=kind,
            label=label,
            added=[_listed_row(kind, row) for row in plan_diff.kinds[kind].added],
            removed=[_listed_row(kind, row) for row in plan_diff.kinds[kind].removed],
            changed=[
                ChangedRow(
                    key=change.key,
                    name=change.name,
                    fields=[_field_diff(c) for c in change.changes],
                )
                for change in plan_diff.kinds[kind].changed
            ],
        )
        for kind, label in DIFF_KINDS
    ]


def _listed_row(kind: str, row: dict[str, Any]) -> ListedRow:
    if kind == "requirements":
        return ListedRow(key=row.get("code") or "", name=row["description"], parent="")
    parent = "" if kind == "features" else row.get("sub_feature") or row.get("feature") or ""
    return ListedRow(key=row["key"], name=row.get("name", ""), parent=parent)


def _field_diff(change: FieldChange) -> FieldDiff:
    """The two values as lines, each marked changed unless the other side has it too."""
    before, after = value_lines(change.before), value_lines(change.after)
    before_changed, after_changed = [True] * len(before), [True] * len(after)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            before_changed[i1:i2] = [False] * (i2 - i1)
            after_changed[j1:j2] = [False] * (j2 - j1)
    return FieldDiff(
        field=change.field,
        before=[DiffLine(t, c) for t, c in zip(before, before_changed, strict=True)],
        after=[DiffLine(t, c) for t, c in zip(after, after_changed, strict=True)],
    )


def value_lines(value: Any) -> list[str]:
    """A field's value as the lines a diff compares and shows."""
    if value is None or value in ("", [], {}):
        return []
    if isinstance(value, bool):
        return ["yes" if value else "no"]
    if isinstance(value, str):
        return value.splitlines() or [value]
    if isinstance(value, list) and all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        return [str(v) for v in value]
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return [str(value)]
