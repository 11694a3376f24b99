"""Importing plans into a project: parse, apply by key, and version — all or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction

from planning.importers import ImportSource, parse_source
from planning.importers.document import PlanDocument
from planning.models import DevPlanVersion, Project
from planning.services import project_create
from planning.services.plans import ApplyResult, plan_apply_or_explain
from planning.services.versions import version_create


@dataclass
class ImportOutcome:
    document: PlanDocument
    result: ApplyResult
    version: DevPlanVersion | None

    @property
    def warnings(self) -> list[str]:
        return self.document.warnings


@transaction.atomic
def plan_import(
    *,
    project: Project,
    source: ImportSource,
    fmt: str = "auto",
    actor: User | None = None,
) -> ImportOutcome:
    """Import `source` into `project` in one transaction.

    Re-importing the same source changes nothing and makes no new version. Raises
    PlanImportError (nothing written) for malformed input or a dependency cycle.
    """
    document = parse_source(source, fmt)
    result = plan_apply_or_explain(project=project, document=document)
    version = version_create(
        project=project,
        summary=f"Imported {source.name}: {result.summary()}",
        actor=actor,
    )
    return ImportOutcome(document=document, result=result, version=version)


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
