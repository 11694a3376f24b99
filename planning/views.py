"""HTML pages for projects and their plans. Each page URL also serves its htmx fragments."""

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget, trigger_client_event

from agents.models import AgentRun
from core.errors import DomainError
from core.htmx import HtmxHttpRequest, redirect_or_client_redirect, wants_fragment
from planning import selectors, services
from planning.diff import FieldChange, PlanDiff, diff_snapshots
from planning.exporters import EXPORT_FORMATS, export_plan
from planning.forms import (
    ChatMessageForm,
    ChatSessionForm,
    PlanGenerateForm,
    PlanImportForm,
    ProjectCreateForm,
    TaskStatusForm,
    VersionCreateForm,
)
from planning.importers import ImportSource
from planning.importers.document import PlanDocument, PlanImportError
from planning.models import (
    ConversationMessage,
    ConversationSession,
    DevPlan,
    DevPlanVersion,
    Project,
    ProjectMembership,
    Task,
)
from planning.services.chat import (
    chat_edits_apply,
    chat_edits_discard,
    chat_message_send,
    chat_session_create,
)
from planning.services.generation import MAX_ATTEMPTS, plan_generation_start
from planning.services.imports import ImportOutcome, plan_import
from planning.services.versions import version_create, version_restore

PROJECTS_PER_PAGE = 25


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request: HtmxHttpRequest) -> HttpResponse:
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
    paginator = Paginator(selectors.project_list_for_user(user=request.user), PROJECTS_PER_PAGE)
    page_obj = paginator.get_page(request.GET.get("page"))
    return render(request, template_name, {"form": form, "page_obj": page_obj})


def _create_project(request: HttpRequest, form: ProjectCreateForm) -> Project | None:
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


@login_required
@require_GET
@vary_on_headers("HX-Request")
def project_detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The plan as a tree; htmx asks for `#plan-summary` again when a task changes."""
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    template_name = "planning/project_detail.html"
    if wants_fragment(request):
        template_name += "#plan-summary"
    return render(request, template_name, _project_detail_context(project, membership))


def _project_detail_context(
    project: Project, membership: ProjectMembership, **forms: object
) -> dict[str, object]:
    tree = selectors.plan_tree(project=project)
    unassigned_done = sum(1 for t in tree.unassigned_tasks if t.status == Task.Status.DONE)
    return {
        "project": project,
        "can_write": membership.can_write,
        "tree": tree,
        "next_task": selectors.task_next_ready(project=project),
        "task_total": sum(n.task_count for n in tree.features) + len(tree.unassigned_tasks),
        "task_done": sum(n.done_count for n in tree.features) + unassigned_done,
        "status_choices": Task.Status.choices,
        "import_form": PlanImportForm(),
        "version_form": VersionCreateForm(),
        "generate_form": PlanGenerateForm(initial={"requirements": project.description}),
        "export_formats": EXPORT_CHOICES,
        **_run_context(selectors.planning_run_list(project=project).first()),
        **forms,
    }


@login_required
@require_POST
def task_status(request: HtmxHttpRequest, slug: str, key: str) -> HttpResponse:
    """Change a task's status and answer with its re-rendered row (`#task-row`).

    Viewers get 403 and non-members 404. An invalid status answers 400 with the row
    showing the error and the task unchanged.
    """
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    task = _task_for_row(project, key)
    form = TaskStatusForm(request.POST)
    error = None
    if form.is_valid():
        try:
            task = services.task_set_status(task=task, status=form.cleaned_data["status"])
        except (DomainError, ValidationError) as exc:
            error = exc.message if isinstance(exc, DomainError) else " ".join(exc.messages)
            task = _task_for_row(project, key)  # the service may have half-applied the change
    else:
        error = " ".join(form.errors["status"])
    context = {
        "project": project,
        "task": task,
        "can_write": True,
        "status_choices": Task.Status.choices,
        "row_error": error,
    }
    response = render(
        request,
        "planning/project_detail.html#task-row",
        context,
        status=400 if error else 200,
    )
    if error is None:
        trigger_client_event(response, "plan-changed")
    return response


def _task_for_row(project: Project, key: str) -> Task:
    # The row shows the same annotation plan_tree() gives each task.
    tasks = selectors.task_list(project=project).annotate(
        dependency_count=Count("dependency_edges", distinct=True)
    )
    return get_object_or_404(tasks, key=key)


# Analytics ----------------------------------------------------------------------------


@dataclass
class TaskLink:
    """A task named on the analytics page; `pk` finds its row (`#task-<pk>`) on the plan."""

    key: str
    name: str
    pk: int | None


@dataclass
class WaveRow:
    key: str
    name: str
    feature: str
    declared: int
    computed: int | None

    @property
    def differs(self) -> bool:
        return self.computed is not None and self.computed != self.declared


@dataclass
class TaskSet:
    slug: str
    label: str
    help: str
    tasks: list[TaskLink]


@login_required
@require_GET
def project_analytics(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Progress per feature, computed against declared waves, the critical path and the
    ready/blocked/in-progress/done sets. A dependency cycle is named in place of the waves
    and critical path it makes impossible. A constant number of queries, whatever the plan.
    """
    project, _ = selectors.project_for_user(user=request.user, slug=slug)
    analytics = selectors.plan_analytics(project=project)
    tasks = {
        key: TaskLink(key=key, name=name, pk=pk)
        for key, (pk, name) in analytics.task_labels.items()
    }

    def links(keys: list[str]) -> list[TaskLink]:
        return [tasks.get(key) or TaskLink(key=key, name="", pk=None) for key in keys]

    wave_rows = [
        WaveRow(
            key=key,
            name=name,
            feature=feature,
            declared=wave,
            computed=analytics.waves.get(key),
        )
        for key, name, feature, wave in analytics.plans
    ]
    task_sets = [
        TaskSet("ready", "Ready", "Pending, with every dependency done.", links(analytics.ready)),
        TaskSet(
            "blocked",
            "Blocked",
            "Marked blocked, or pending on a task or plan not yet done.",
            links(analytics.blocked),
        ),
        TaskSet(
            "in-progress", "In progress", "In progress or in review.", links(analytics.in_progress)
        ),
        TaskSet("done", "Done", "", links(analytics.done)),
    ]
    context = {
        "project": project,
        "analytics": analytics,
        "has_cycle": bool(analytics.task_cycle or analytics.plan_cycle),
        "wave_rows": wave_rows,
        "critical_path": links(analytics.critical_path),
        "task_sets": task_sets,
        "task_total": len(tasks),
    }
    return render(request, "planning/project_analytics.html", context)


# Import, export and versions ------------------------------------------------------------

VERSIONS_PER_PAGE = 25
WARNINGS_SHOWN = 10
WORKING = "working"
# Download buttons, in the order pages show them.
EXPORT_CHOICES = [
    ("markdown", "Markdown"),
    ("json", "JSON"),
    ("gsd", "GSD zip"),
    ("taskmaster", "Task Master"),
]
# The diff page's sections, in the order the plan reads top-down.
DIFF_KINDS = [
    ("features", "Features"),
    ("sub_features", "Sub-features"),
    ("tasks", "Tasks"),
    ("requirements", "Requirements"),
]


@login_required
@require_POST
def project_import(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Import an uploaded plan file into the project, then go back to its page.

    A file that cannot be imported writes nothing and answers 400 with the form
    (`#plan-import-form` for htmx) showing the importer's "file:line: message".
    """
    project, membership = selectors.project_for_user(user=request.user, slug=slug, write=True)
    form = PlanImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            source = ImportSource.from_bytes(upload.name, upload.read())
            outcome = plan_import(
                project=project,
                source=source,
                fmt=form.cleaned_data["format"],
                actor=request.user,
            )
        except PlanImportError as exc:
            form.add_error("file", str(exc))
        else:
            _report_import(request, source.name, outcome)
            url = reverse("planning:project-detail", args=[project.slug])
            return redirect_or_client_redirect(request, url)
    if request.htmx:
        context = {"project": project, "import_form": form}
        return render(request, "planning/project_detail.html#plan-import-form", context, status=400)
    context = _project_detail_context(project, membership, import_form=form)
    return render(request, "planning/project_detail.html", context, status=400)


def _report_import(request: HttpRequest, name: str, outcome: ImportOutcome) -> None:
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
def project_export(request: HtmxHttpRequest, slug: str, fmt: str) -> HttpResponse:
    """The working plan as a download in `fmt` (see EXPORT_CHOICES)."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug)
    document = selectors.plan_document(project=project)
    return _download(document, fmt=fmt, title=project.name)


@login_required
@require_GET
def version_export(request: HtmxHttpRequest, slug: str, number: int, fmt: str) -> HttpResponse:
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
    response["Content-Disposition"] = content_disposition_header(True, exported.filename)
    return response


def _versions(project: Project) -> QuerySet[DevPlanVersion]:
    # Version numbers in URLs belong to the project's main plan.
    return selectors.version_list(project=project).filter(plan__name=DevPlan.DEFAULT_NAME)


@login_required
@require_http_methods(["GET", "POST"])
def version_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
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
def version_detail(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
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
def version_restore_form(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    """GET shows what restoring version `number` would change; POST restores it."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    version = selectors.version_get(project=project, number=number)
    if request.method == "POST":
        _, new_version = version_restore(version=version, actor=request.user)
        recorded = f" as version {new_version.number}" if new_version is not None else ""
        messages.success(request, f"Restored version {version.number}{recorded}.")
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
def version_diff(request: HtmxHttpRequest, slug: str) -> HttpResponse:
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
    before, after = _value_lines(change.before), _value_lines(change.after)
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


def _value_lines(value: Any) -> list[str]:
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


# Plan generation ------------------------------------------------------------------------

RUN_LIVE = (AgentRun.Status.QUEUED, AgentRun.Status.RUNNING)


def _run_context(run: AgentRun | None) -> dict[str, object]:
    """What `#plan-run` needs; `run_live` keeps it polling."""
    return {
        "run": run,
        "run_live": run is not None and run.status in RUN_LIVE,
        "max_attempts": MAX_ATTEMPTS,
    }


def _run_progress(request: HtmxHttpRequest, project: Project, run: AgentRun) -> HttpResponse:
    context = {"project": project, **_run_context(run)}
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
    context = _project_detail_context(project, membership, generate_form=form)
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


# Planning chat --------------------------------------------------------------------------

CHATS_PER_PAGE = 25
# Diff kinds a proposal can touch, and the edit entity that names their rows.
EDIT_ENTITIES = {"features": "feature", "tasks": "task"}


@dataclass
class ProposedChange:
    key: str
    fields: list[tuple[str, str, str]]  # (field, before, after)


@dataclass
class ProposalSection:
    label: str
    added: list[tuple[str, str]]  # (key, name)
    removed: list[str]
    changed: list[ProposedChange]


@dataclass
class EditProposal:
    """A reply's proposed edits as the diff a person reviews before applying them."""

    status: str  # proposed, applied or discarded
    summary: str
    operation_count: int
    sections: list[ProposalSection]
    edges_added: list[tuple[str, str]]
    edges_removed: list[tuple[str, str]]
    version: int | None

    @property
    def pending(self) -> bool:
        return self.status == "proposed"


@dataclass
class ChatEntry:
    message: ConversationMessage
    proposal: EditProposal | None
    error: str = ""


def _chat_entry(message: ConversationMessage, error: str = "") -> ChatEntry:
    return ChatEntry(message=message, proposal=_edit_proposal(message.metadata), error=error)


def _edit_proposal(metadata: dict[str, Any]) -> EditProposal | None:
    edits = metadata.get("edits")
    if not edits:
        return None
    preview = metadata.get("preview") or {}
    names = {
        (edit.get("entity"), edit.get("key")): (edit.get("fields") or {}).get("name") or ""
        for edit in edits
        if edit.get("op") == "add"
    }
    sections = []
    for kind, label in DIFF_KINDS:
        part = preview.get(kind) or {}
        section = ProposalSection(
            label=label,
            added=[
                (key, names.get((EDIT_ENTITIES.get(kind), key), ""))
                for key in part.get("added", [])
            ],
            removed=list(part.get("removed", [])),
            changed=[
                ProposedChange(
                    key=change["key"],
                    fields=[
                        (name, _value_text(values.get("before")), _value_text(values.get("after")))
                        for name, values in change.get("fields", {}).items()
                    ],
                )
                for change in part.get("changed", [])
            ],
        )
        if section.added or section.removed or section.changed:
            sections.append(section)
    edges = preview.get("dependencies") or {}
    return EditProposal(
        status=metadata.get("edit_status", "proposed"),
        summary=preview.get("summary", ""),
        operation_count=len(edits),
        sections=sections,
        edges_added=[(task, dep) for task, dep in edges.get("added", [])],
        edges_removed=[(task, dep) for task, dep in edges.get("removed", [])],
        version=metadata.get("version"),
    )


def _value_text(value: Any) -> str:
    return "\n".join(_value_lines(value)) or "—"


@login_required
@require_http_methods(["GET", "POST"])
def chat_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The project's planning chats, newest first; POST starts a new chat and opens it."""
    creating = request.method == "POST"
    project, membership = selectors.project_for_user(user=request.user, slug=slug, write=creating)
    form = ChatSessionForm(request.POST if creating else None)
    if creating and form.is_valid():
        session = chat_session_create(
            project=project, actor=request.user, title=form.cleaned_data["title"]
        )
        url = reverse("planning:chat-detail", args=[project.slug, session.pk])
        return redirect_or_client_redirect(request, url)
    paginator = Paginator(selectors.chat_session_summary_list(project=project), CHATS_PER_PAGE)
    context = {
        "project": project,
        "can_write": membership.can_write,
        "page_obj": paginator.get_page(request.GET.get("page")),
        "session_form": form,
    }
    return render(request, "planning/chat_list.html", context, status=400 if creating else 200)


@login_required
@require_GET
def chat_detail(request: HtmxHttpRequest, slug: str, session_id: int) -> HttpResponse:
    """One chat: its transcript, with proposed edits as diffs, and the message form."""
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    session = selectors.chat_session_get(project=project, session_id=session_id)
    return render(
        request,
        "planning/chat_detail.html",
        _chat_context(project, session, can_write=membership.can_write),
    )


def _chat_context(
    project: Project, session: ConversationSession, *, can_write: bool, **extra: object
) -> dict[str, object]:
    return {
        "project": project,
        "session": session,
        "can_write": can_write,
        "entries": [_chat_entry(m) for m in selectors.chat_message_list(session=session)],
        "message_form": ChatMessageForm(),
        **extra,
    }


@login_required
@require_POST
def chat_message_create(request: HtmxHttpRequest, slug: str, session_id: int) -> HttpResponse:
    """Send a message and answer with it and the assistant's reply (`#chat-exchange`), to
    append to the transcript, plus a fresh form swapped in out of band.

    An empty message answers 400 with the form (`#chat-form` for htmx) showing the error.
    """
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    session = selectors.chat_session_get(project=project, session_id=session_id)
    form = ChatMessageForm(request.POST)
    if form.is_valid():
        try:
            reply = chat_message_send(
                session=session, content=form.cleaned_data["content"], actor=request.user
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            if not request.htmx:
                url = reverse("planning:chat-detail", args=[project.slug, session.pk])
                return redirect(f"{url}#chat-message-{reply.pk}")
            question = (
                selectors.chat_message_list(session=session)
                .filter(role=ConversationMessage.Role.USER, pk__lt=reply.pk)
                .last()
            )
            context = {
                "project": project,
                "session": session,
                "can_write": True,
                "exchange": [_chat_entry(m) for m in (question, reply) if m is not None],
                "message_form": ChatMessageForm(),
            }
            return render(request, "planning/chat_detail.html#chat-exchange", context)
    if request.htmx:
        context = {"project": project, "session": session, "message_form": form}
        response = render(request, "planning/chat_detail.html#chat-form", context, status=400)
        # The form appends to the transcript; its errors belong in the form itself.
        return reswap(retarget(response, "#chat-form"), "outerHTML")
    context = _chat_context(project, session, can_write=True, message_form=form)
    return render(request, "planning/chat_detail.html", context, status=400)


@login_required
@require_POST
def chat_message_apply(
    request: HtmxHttpRequest, slug: str, session_id: int, message_id: int
) -> HttpResponse:
    """Apply a reply's proposed edits as a new version; answer with the reply
    (`#chat-message`) showing the outcome and send "plan-changed".

    Edits that no longer fit the plan, or were already applied or discarded, change
    nothing and answer 400 with the reason shown in the reply.
    """
    project, session, message = _chat_message_for_write(request, slug, session_id, message_id)
    error = success = ""
    try:
        version = chat_edits_apply(message=message, actor=request.user)
    except PlanImportError as exc:
        error = f"These edits no longer fit the plan, so nothing was changed: {exc}"
    except DomainError as exc:
        error = exc.message
    else:
        success = f"Applied the edits as version {version.number}."
    return _chat_message_outcome(request, project, session, message, error=error, success=success)


@login_required
@require_POST
def chat_message_discard(
    request: HtmxHttpRequest, slug: str, session_id: int, message_id: int
) -> HttpResponse:
    """Discard a reply's proposed edits; answer with the reply (`#chat-message`).

    Edits already applied or discarded answer 400 with the reason shown in the reply.
    """
    project, session, message = _chat_message_for_write(request, slug, session_id, message_id)
    error = success = ""
    try:
        chat_edits_discard(message=message)
    except DomainError as exc:
        error = exc.message
    else:
        success = "Discarded the proposed edits."
    return _chat_message_outcome(request, project, session, message, error=error, success=success)


def _chat_message_for_write(
    request: HttpRequest, slug: str, session_id: int, message_id: int
) -> tuple[Project, ConversationSession, ConversationMessage]:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    session = selectors.chat_session_get(project=project, session_id=session_id)
    message = selectors.chat_message_get(session=session, message_id=message_id)
    return project, session, message


def _chat_message_outcome(
    request: HtmxHttpRequest,
    project: Project,
    session: ConversationSession,
    message: ConversationMessage,
    *,
    error: str,
    success: str,
) -> HttpResponse:
    if not request.htmx:
        if error:
            messages.error(request, error)
        elif success:
            messages.success(request, success)
        url = reverse("planning:chat-detail", args=[project.slug, session.pk])
        return redirect(f"{url}#chat-message-{message.pk}")
    message.refresh_from_db(fields=["metadata"])  # the service saved its own copy
    context = {
        "project": project,
        "session": session,
        "can_write": True,
        "entry": _chat_entry(message, error=error),
    }
    # 400, not 409, for a conflict: the page swaps 400 answers only (see base.html).
    response = render(
        request,
        "planning/chat_detail.html#chat-message",
        context,
        status=400 if error else 200,
    )
    if not error and message.metadata.get("edit_status") == "applied":
        trigger_client_event(response, "plan-changed")
    return response
