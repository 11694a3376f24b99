"""Exporting the plan, and the plan's versions: the list with the form that saves one,
one version, restoring one, and two versions side by side."""

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods

from core.htmx import AuthenticatedHtmxRequest, redirect_or_client_redirect
from planning import selectors
from planning.diff import FieldChange, PlanDiff, diff_snapshots
from planning.exporters import EXPORT_FORMATS, export_plan
from planning.forms import VersionCreateForm
from planning.importers.document import PlanDocument
from planning.models import DevPlan, DevPlanVersion, Project
from planning.services.versions import version_create, version_restore
from planning.views.project_page import EXPORT_CHOICES

VERSIONS_PER_PAGE = 25
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
