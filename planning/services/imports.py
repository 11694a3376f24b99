"""Importing plans into a project: parse, match by source identity, apply and version —
all or nothing.

Re-importing a source the plan already came from (or importing into an empty plan)
applies at once. Any other source first answers with a preview, and is applied only when
the caller chooses to replace the plan with it or to merge it in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from core.collector import collector_paused
from core.text import natural_sort_key
from planning import selectors
from planning.diff import PlanDiff, diff_snapshots
from planning.importers import ImportSource, parse_source
from planning.importers.document import PlanDocument, PlanImportError
from planning.importers.identity import Identity
from planning.models import DevPlanVersion, Feature, Project, SubFeature, Task
from planning.services import project_create
from planning.services._common import plan_rows_deleted
from planning.services.matching import (
    ExistingPlan,
    Matching,
    existing_plan,
    match_document,
    rekey_document,
)
from planning.services.plan_rows import ApplyResult, RowsProgress
from planning.services.plans import plan_apply_or_explain, plan_references_checked
from planning.services.versions import version_create
from planning.version_content import content_ahead

PREVIEW_PAGE_SIZE = 100


class ImportMode(StrEnum):
    # Apply a re-import of the plan's own source, or into an empty plan; else preview.
    ASK = "ask"
    # The plan becomes the file: rows the file does not have are removed.
    REPLACE = "replace"
    # The file's rows are added or updated; every other row stays.
    MERGE = "merge"


@dataclass
class ImportPreview:
    """What importing a file would do to a plan that came from elsewhere."""

    source: str
    plan_sources: list[str]
    diff: PlanDiff

    @property
    def tasks(self) -> Any:
        return self.diff.kinds["tasks"]

    def counts(self) -> dict[str, int]:
        """Tasks the file adds, changes, and has not (which `replace` removes)."""
        return {
            "added": len(self.tasks.added),
            "changed": len(self.tasks.changed),
            "removed": len(self.tasks.removed),
        }

    def pages(self, size: int = PREVIEW_PAGE_SIZE) -> int:
        return max(1, -(-max(self.counts().values()) // size))

    def page(self, number: int = 1, size: int = PREVIEW_PAGE_SIZE) -> dict[str, Any]:
        """Page `number` (from 1) of the added, changed and removed tasks, `size` of each."""
        number = min(max(number, 1), self.pages(size))
        window = slice((number - 1) * size, number * size)
        return {
            "added": [_task_line(row) for row in self.tasks.added[window]],
            "changed": [
                {
                    "key": change.key,
                    "name": change.name,
                    "changed_fields": sorted(c.field for c in change.changes),
                }
                for change in self.tasks.changed[window]
            ],
            "removed": [_task_line(row) for row in self.tasks.removed[window]],
            "page": number,
            "pages": self.pages(size),
        }

    def as_record(self) -> dict[str, Any]:
        """Every task of the preview, as an import job keeps it (shapes.IMPORT_JOB_PREVIEW)
        while it waits for the choice; `preview_record_as_dict` pages it."""
        everything = self.page(1, max(1, *self.counts().values()))
        return {
            "file_source": self.source,
            "plan_sources": self.plan_sources,
            "summary": self.diff.summary(),
            "counts": self.counts(),
            "added": everything["added"],
            "changed": everything["changed"],
            "removed": everything["removed"],
        }

    def as_dict(self, page: int = 1, size: int = PREVIEW_PAGE_SIZE) -> dict[str, Any]:
        return {
            "file_source": self.source,
            "plan_sources": self.plan_sources,
            "summary": self.diff.summary(),
            "counts": self.counts(),
            "tasks": self.page(page, size),
            "choices": [ImportMode.REPLACE.value, ImportMode.MERGE.value],
        }


def preview_record_as_dict(
    record: dict[str, Any], page: int = 1, size: int = PREVIEW_PAGE_SIZE
) -> dict[str, Any]:
    """A kept preview (`ImportPreview.as_record`) as `ImportPreview.as_dict` shows it."""
    pages = max(1, -(-max(len(record[part]) for part in PREVIEW_PARTS) // size))
    number = min(max(page, 1), pages)
    window = slice((number - 1) * size, number * size)
    return {
        "file_source": record["file_source"],
        "plan_sources": record["plan_sources"],
        "summary": record["summary"],
        "counts": record["counts"],
        "tasks": {
            **{part: record[part][window] for part in PREVIEW_PARTS},
            "page": number,
            "pages": pages,
        },
        "choices": [ImportMode.REPLACE.value, ImportMode.MERGE.value],
    }


PREVIEW_PARTS = ("added", "changed", "removed")


def _task_line(row: dict[str, Any]) -> dict[str, str]:
    return {"key": row["key"], "name": row["name"]}


@dataclass
class ImportOutcome:
    """An import that was applied (`result`, maybe a `version`), or one waiting for the
    choice between replacing and merging (`preview`), which wrote nothing."""

    document: PlanDocument
    mode: ImportMode
    result: ApplyResult | None = None
    version: DevPlanVersion | None = None
    preview: ImportPreview | None = None

    @property
    def applied(self) -> bool:
        return self.result is not None

    @property
    def warnings(self) -> list[str]:
        return self.document.warnings

    def summary(self) -> str:
        if self.result is not None:
            return self.result.summary()
        assert self.preview is not None
        return f"waiting for a choice: {self.preview.diff.summary()}"

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON, for an API answer or a Celery result."""
        return {
            "applied": self.applied,
            "mode": self.mode.value,
            "summary": self.summary(),
            "version": self.version.number if self.version else None,
            "created": dict(self.result.created) if self.result else {},
            "updated": dict(self.result.updated) if self.result else {},
            "removed": dict(self.result.removed) if self.result else {},
            "warnings": self.warnings,
            "preview": self.preview.as_dict() if self.preview else None,
        }


def import_mode(value: str | None) -> ImportMode:
    """The mode named `value` (empty: ask). Raises PlanImportError for another word."""
    try:
        return ImportMode(value or ImportMode.ASK)
    except ValueError:
        choices = ", ".join(m.value for m in ImportMode)
        raise PlanImportError(f"unknown import mode {value!r}: expected one of {choices}") from None


def document_source(document: PlanDocument) -> str:
    """The `<format>:<source>` the document's identities name."""
    identities = [t.identity for t in document.tasks] + [f.identity for f in document.features]
    for identity in identities:
        parsed = Identity.parse(identity)
        if parsed is not None:
            return parsed.source
    return ""


# Cycle collection paused: the import's objects all live until it ends (core.collector).
@collector_paused()
@transaction.atomic
def plan_import(
    *,
    project: Project,
    source: ImportSource,
    fmt: str = "auto",
    actor: User | None = None,
    mode: ImportMode | str = ImportMode.ASK,
    progress: RowsProgress | None = None,
) -> ImportOutcome:
    """Import `source` into `project` in one transaction, matching rows by source identity.

    With mode `ask`, a source the plan did not come from, into a plan that has features
    or tasks, writes nothing and returns the outcome with its `preview`. Re-importing the
    same source changes nothing and makes no new version. Raises PlanImportError (nothing
    written) for malformed input, an unknown mode or a dependency cycle. `progress`, if
    given, is told (rows applied, rows in all) as the plan is applied (plan_apply).
    """
    mode = import_mode(mode)
    document = parse_source(source, fmt)
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    existing = existing_plan(project=project)
    # Nothing else in the project: the applied document is the whole plan afterwards.
    fresh = existing.empty and not project.requirements.exists()
    incoming = document_source(document)
    plan_sources = existing.sources()
    reimport = existing.empty or incoming in plan_sources
    if mode is ImportMode.ASK and not reimport:
        return ImportOutcome(
            document=document,
            mode=mode,
            preview=_preview(project, document, existing, incoming, plan_sources),
        )
    matching = match_document(document, existing, rename_source=incoming if reimport else None)
    taken = _taken(existing)
    removed: Counter[str] = Counter()
    if mode is ImportMode.REPLACE:
        taken = _remove_stale(project, matching, taken, removed)
    rekey_document(document, matching, taken=taken)
    # Parsing validated the document; new keys from rekeying are checked keys too.
    result = plan_apply_or_explain(
        project=project,
        document=document,
        prune=mode is ImportMode.REPLACE,
        validated=True,
        progress=progress,
    )
    result.removed.update(+removed)
    how = {ImportMode.REPLACE: " (replacing the plan)", ImportMode.MERGE: " (merged)"}
    with content_ahead(document if fresh else None) as content:
        # While PostgreSQL checks the new rows' references, the version's content is
        # worked out on the side.
        plan_references_checked()
        version = version_create(
            project=project,
            summary=f"Imported {source.name}{how.get(mode, '')}: {result.summary()}",
            actor=actor,
            content=content(),
        )
    return ImportOutcome(document=document, mode=mode, result=result, version=version)


def _taken(existing: ExistingPlan) -> dict[str, set[str]]:
    return {
        "features": {row.key for row in existing.features},
        "sub_features": {row.key for row in existing.sub_features},
        "tasks": {row.key for row in existing.tasks},
    }


def _preview(
    project: Project,
    document: PlanDocument,
    existing: ExistingPlan,
    incoming: str,
    plan_sources: set[str],
) -> ImportPreview:
    working = selectors.plan_document(project=project).to_snapshot()
    rekey_document(document, match_document(document, existing), taken=_taken(existing))
    diff = diff_snapshots(working, document.to_snapshot())
    tasks = diff.kinds["tasks"]
    # Pages read in the plan's order: F01-T2 before F01-T10.
    tasks.added.sort(key=lambda row: natural_sort_key(row["key"]))
    tasks.removed.sort(key=lambda row: natural_sort_key(row["key"]))
    tasks.changed.sort(key=lambda change: natural_sort_key(change.key))
    return ImportPreview(source=incoming, plan_sources=sorted(plan_sources), diff=diff)


def _remove_stale(
    project: Project,
    matching: Matching,
    taken: dict[str, set[str]],
    removed_counts: Counter[str],
) -> dict[str, set[str]]:
    """Before a replace: delete the tasks and plans the file does not have, so that its
    own keys are free. A feature still holding a plan of the file stays until the apply
    has moved that plan (and prunes it then). Returns the keys still taken."""
    stale_tasks = [row.pk for row in matching.stale["tasks"]]
    removed_counts.update(
        {
            "tasks": len(stale_tasks),
            "sub-features": len(matching.stale["sub_features"]),
        }
    )
    stale_subs = [row.pk for row in matching.stale["sub_features"]]
    # Kept tasks are moved off what goes now; the apply gives them their new places.
    Task.objects.filter(parent_id__in=stale_tasks).update(parent=None)
    Task.objects.filter(pk__in=stale_tasks).delete()
    Task.objects.filter(sub_feature_id__in=stale_subs).update(sub_feature=None)
    SubFeature.objects.filter(pk__in=stale_subs).delete()
    holding = set(
        SubFeature.objects.filter(
            feature_id__in=[row.pk for row in matching.stale["features"]]
        ).values_list("feature_id", flat=True)
    )
    stale_features = [row for row in matching.stale["features"] if row.pk not in holding]
    removed_counts["features"] += len(stale_features)
    Task.objects.filter(feature_id__in=[row.pk for row in stale_features]).update(feature=None)
    Feature.objects.filter(pk__in=[row.pk for row in stale_features]).delete()
    if stale_tasks or stale_subs or stale_features:
        plan_rows_deleted(project_id=project.pk)
    removed = {
        "features": {row.key for row in stale_features},
        "sub_features": {row.key for row in matching.stale["sub_features"]},
        "tasks": {row.key for row in matching.stale["tasks"]},
    }
    return {kind: keys - removed[kind] for kind, keys in taken.items()}


DEMO_PLANNING_FOLDER = Path(__file__).resolve().parents[1] / "demo" / ".planning"


@transaction.atomic
def demo_project_ensure(*, owner: User) -> Project | None:
    """On an empty database, create a demo project from Crewboard's own `.planning/` folder.

    Returns the new project, or None when any project already exists.
    """
    if Project.objects.exists():
        return None
    project = project_create(
        owner=owner,
        name="Crewboard (demo)",
        slug="crewboard-demo",
        description="Crewboard's own roadmap, imported from the GSD folder it ships with.",
        status=Project.Status.ACTIVE,
    )
    plan_import(project=project, source=ImportSource.from_path(DEMO_PLANNING_FOLDER), actor=owner)
    return project
