"""Plan versions: immutable snapshots of a project's working plan."""

from __future__ import annotations

from typing import Any, Literal, overload

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max

from core.inserts import insert_rows
from core.text import noun
from planning import selectors
from planning.importers.document import CONTENT_HASH, MEANING_FIELDS, PlanDocument, content_hash
from planning.models import DevPlan, DevPlanVersion, Project, Task
from planning.services.plan_rows import ApplyResult
from planning.services.plans import plan_apply, task_reset_to_pending
from planning.version_content import VersionContent, version_content

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
    content: VersionContent | None = None,
) -> DevPlanVersion: ...
@overload
def version_create(
    *,
    project: Project,
    summary: str,
    actor: User | None = None,
    only_if_changed: bool = True,
    plan_name: str = DEFAULT_PLAN_NAME,
    content: VersionContent | None = None,
) -> DevPlanVersion | None: ...
@transaction.atomic
def version_create(
    *,
    project: Project,
    summary: str,
    actor: User | None = None,
    only_if_changed: bool = True,
    plan_name: str = DEFAULT_PLAN_NAME,
    content: VersionContent | None = None,
) -> DevPlanVersion | None:
    """Snapshot the working plan as the next version.

    With `only_if_changed`, returns None when the plan equals the latest version.
    `content`: the version's content as worked out from the document plan_apply has just
    made the project's whole plan from (planning.version_content), instead of from the
    rows read back.
    """
    plan = DevPlan.objects.select_for_update().get(
        pk=dev_plan_for(project=project, name=plan_name).pk
    )
    if content is None:
        read_back = selectors.plan_document(project=project)
        snapshot = read_back.to_snapshot()
        # The rest of the content (the Markdown is as large) only for a version made.
        if only_if_changed and _is_latest(plan, snapshot):
            return None
        content = version_content(read_back, snapshot=snapshot)
    elif only_if_changed and _is_latest(plan, content.snapshot):
        return None
    number = (plan.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = DevPlanVersion(
        plan=plan,
        number=number,
        snapshot=content.snapshot,
        source_identities=content.source_identities,
        markdown=content.markdown(f"{project.name} — v{number}"),
        change_summary=summary,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    # Parameters bound server-side: a 20,000-task snapshot is megabytes, which a
    # client-side bound INSERT would escape into the statement's text first.
    insert_rows(
        [version],
        encoded_json={"snapshot": content.snapshot_json} if content.snapshot_json else None,
    )
    return version


def _is_latest(plan: DevPlan, snapshot: dict[str, Any]) -> bool:
    """Whether `snapshot` equals the plan's latest version's (only that column is read:
    a big plan's Markdown is as large, and not compared)."""
    latest = plan.versions.order_by("-number").only("snapshot").first()
    return latest is not None and latest.snapshot == snapshot


@transaction.atomic
def version_restore(
    *, version: DevPlanVersion, actor: User | None = None
) -> tuple[ApplyResult, DevPlanVersion | None]:
    """Make the working plan equal to `version`, and record that as a new version.

    A task that stays keeps its execution state (status, timestamps, assignments) only
    when it is the same task: same source identity and same meaning (content hash, or
    for an older snapshot without one, the same fields). Any other goes back to pending,
    and `result.reset` lists their keys.
    """
    project = version.plan.project
    document = PlanDocument.from_snapshot(version.snapshot)
    document.give_identities(version.shaped_source_identities())
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    reset = _tasks_changed_in_meaning(project, document, version.snapshot)
    result = plan_apply(project=project, document=document, prune=True)
    result.reset = task_reset_to_pending(project=project, keys=reset)
    new_version = version_create(
        project=project,
        summary=f"Restored version {version.number}"
        + (
            f"; {len(result.reset)} changed {noun('tasks', len(result.reset))} reset to pending"
            if result.reset
            else ""
        ),
        actor=actor,
        only_if_changed=False,
        plan_name=version.plan.name,
    )
    return result, new_version


def _tasks_changed_in_meaning(
    project: Project, document: PlanDocument, snapshot: dict[str, Any]
) -> list[str]:
    """Keys of the working plan's started tasks whose restored form is another task.

    A snapshot from before hashes were stored is hashed from its fields, read as any
    snapshot is (missing fields take their defaults): it differs only where the content
    does."""
    current = {
        key: (identity, content_hash(dict(zip(MEANING_FIELDS, values, strict=True))))
        for key, identity, *values in Task.objects.filter(project=project)
        .exclude(status=Task.Status.PENDING)
        .values_list("key", "source_identity", *MEANING_FIELDS)
    }
    stored = {
        row.get("key"): row.get(CONTENT_HASH)
        for row in snapshot.get("tasks", [])
        if isinstance(row, dict)
    }
    changed = []
    for task in document.tasks:
        if task.key not in current:
            continue
        identity, current_hash = current[task.key]
        restored_hash = stored.get(task.key) or content_hash(
            {name: getattr(task, name) for name in MEANING_FIELDS}
        )
        same_source = not task.identity or not identity or task.identity == identity
        if not same_source or restored_hash != current_hash:
            changed.append(task.key)
    return changed
