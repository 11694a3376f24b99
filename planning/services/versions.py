"""Plan versions: immutable snapshots of a project's working plan."""

from __future__ import annotations

from typing import Literal, overload

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max

from planning import selectors
from planning.exporters.markdown import render_markdown
from planning.importers.document import PlanDocument
from planning.models import DevPlan, DevPlanVersion, Project
from planning.services.plans import ApplyResult, plan_apply

DEFAULT_PLAN_NAME = DevPlan.DEFAULT_NAME


def dev_plan_for(*, project: Project, name: str = DEFAULT_PLAN_NAME) -> DevPlan:
    plan, _ = DevPlan.objects.get_or_create(project=project, name=name)
    return plan


@overload
def version_create(
    *,
    project: Project,
    summary: str,
    actor: User | None = None,
    only_if_changed: Literal[False],
    plan_name: str = DEFAULT_PLAN_NAME,
) -> DevPlanVersion: ...
@overload
def version_create(
    *,
    project: Project,
    summary: str,
    actor: User | None = None,
    only_if_changed: bool = True,
    plan_name: str = DEFAULT_PLAN_NAME,
) -> DevPlanVersion | None: ...
@transaction.atomic
def version_create(
    *,
    project: Project,
    summary: str,
    actor: User | None = None,
    only_if_changed: bool = True,
    plan_name: str = DEFAULT_PLAN_NAME,
) -> DevPlanVersion | None:
    """Snapshot the working plan as the next version.

    With `only_if_changed`, returns None when the plan equals the latest version.
    """
    plan = DevPlan.objects.select_for_update().get(
        pk=dev_plan_for(project=project, name=plan_name).pk
    )
    document = selectors.plan_document(project=project)
    snapshot = document.to_snapshot()
    latest = plan.versions.order_by("-number").first()
    if only_if_changed and latest is not None and latest.snapshot == snapshot:
        return None
    number = (plan.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    return DevPlanVersion.objects.create(
        plan=plan,
        number=number,
        snapshot=snapshot,
        markdown=render_markdown(document, title=f"{project.name} — v{number}"),
        change_summary=summary,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )


@transaction.atomic
def version_restore(
    *, version: DevPlanVersion, actor: User | None = None
) -> tuple[ApplyResult, DevPlanVersion | None]:
    """Make the working plan equal to `version`, and record that as a new version.

    Execution state (status, timestamps, assignments) of tasks that survive is kept.
    """
    project = version.plan.project
    document = PlanDocument.from_snapshot(version.snapshot)
    result = plan_apply(project=project, document=document, prune=True)
    new_version = version_create(
        project=project,
        summary=f"Restored version {version.number}",
        actor=actor,
        only_if_changed=False,
        plan_name=version.plan.name,
    )
    return result, new_version
