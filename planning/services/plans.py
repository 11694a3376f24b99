"""Applying a whole plan document to a project: imports, generation, chat edits, restores.

Here is the order the kinds of row go in, and what each needs; how one kind is made to
match the document, and what an apply reports, is in planning.services.plan_rows, and how
the tasks are written in planning.services.plan_tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.db import references_checked_now
from core.text import natural_sort_key
from planning.importers.document import PlanDocument, PlanImportError
from planning.models import (
    Feature,
    Project,
    Requirement,
    SubFeature,
    SubFeatureDependency,
    Task,
    TaskDependency,
)
from planning.services._common import plan_rows_deleted
from planning.services.external import external_dependencies_sync
from planning.services.plan_rows import (
    ApplyResult,
    RowsProgress,
    RowsTally,
    StaleRows,
    links_sync,
    rows_sync,
)
from planning.services.plan_tasks import tasks_apply
from planning.services.rollup import plan_status_rollup

FEATURE_COLUMNS = ("name", "description", "priority", "position")
REQUIREMENT_COLUMNS = ("category", "description", "priority", "source", "validated", "position")
SUB_FEATURE_COLUMNS = (
    "name",
    "objective",
    "wave",
    "autonomous",
    "files_modified",
    "must_haves",
    "extra",
    "position",
)


@transaction.atomic
def plan_apply(
    *,
    project: Project,
    document: PlanDocument,
    prune: bool = False,
    validated: bool = False,
    progress: RowsProgress | None = None,
) -> ApplyResult:
    """Make the project's plan match `document`, matching rows by key.

    Rows the document does not mention are kept, unless `prune` (a restore) removes them.
    Task status is set for new tasks, and for existing ones only where the document
    carries one. The dependencies of the document's tasks and plans become exactly those
    it lists, so its own acyclicity check covers the result. Feature, sub-feature and
    project statuses are then rolled up from the tasks. Raises PlanImportError (and
    writes nothing) for an invalid document; `validated` says the caller has checked it.
    `progress`, if given, is told (rows applied, rows in all) after each batch of rows.
    """
    if not validated:
        document.validate()
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    result = ApplyResult()
    tally = RowsTally(
        total=len(document.features)
        + len(document.requirements)
        + len(document.sub_features)
        + len(document.tasks),
        report=progress,
    )
    # Deleted last, children first: a task moved out of a feature that goes away must be
    # re-parented before the feature's cascade could take it (and its status) along.
    stale_rows: StaleRows | None = [] if prune else None

    features = _apply_features(project, document, result, stale_rows, tally)
    requirements = _apply_requirements(project, document, result, stale_rows, tally)
    sub_features = _apply_sub_features(project, document, features, result, stale_rows, tally)
    tasks = tasks_apply(
        project=project,
        document=document,
        features=features,
        sub_features=sub_features,
        result=result,
        stale_rows=stale_rows,
        tally=tally,
    )
    _apply_links(project, document, features, requirements, sub_features, tasks, result)
    external_dependencies_sync(sub_features=[sub_features[s.key] for s in document.sub_features])
    _delete_stale(project, stale_rows, result)
    # Statuses, places and tasks may all have changed: the whole plan is rolled up.
    plan_status_rollup(project_id=project.pk)
    return result


def _apply_features(
    project: Project,
    document: PlanDocument,
    result: ApplyResult,
    stale_rows: StaleRows | None,
    tally: RowsTally,
) -> dict[str, Feature]:
    """The document's features written; the project's features by key."""
    rows_sync(
        model=Feature,
        kind="features",
        existing={f.key: f for f in project.features.all()},
        specs=document.features,
        key_of=lambda s: s.key,
        columns=(*FEATURE_COLUMNS, "source_identity"),
        build=lambda s, v: {"project_id": project.pk, "key": s.key, **v, **_initial_status(s)},
        values_of=lambda s: {c: getattr(s, c) for c in FEATURE_COLUMNS} | _identity(s),
        result=result,
        prune=stale_rows,
        tally=tally,
    )
    return {f.key: f for f in project.features.all()}


def _apply_requirements(
    project: Project,
    document: PlanDocument,
    result: ApplyResult,
    stale_rows: StaleRows | None,
    tally: RowsTally,
) -> dict[str, Requirement]:
    """The document's requirements written; the project's by code (or, without one, by
    NUL and description)."""
    rows_sync(
        model=Requirement,
        kind="requirements",
        existing={r.code or f"\0{r.description}": r for r in project.requirements.all()},
        specs=document.requirements,
        key_of=lambda s: s.code or f"\0{s.description}",
        columns=REQUIREMENT_COLUMNS,
        build=lambda s, v: {"project_id": project.pk, "code": s.code, **v},
        values_of=lambda s: {c: getattr(s, c) for c in REQUIREMENT_COLUMNS},
        result=result,
        prune=stale_rows,
        tally=tally,
    )
    return {r.code or f"\0{r.description}": r for r in project.requirements.all()}


def _apply_sub_features(
    project: Project,
    document: PlanDocument,
    features: dict[str, Feature],
    result: ApplyResult,
    stale_rows: StaleRows | None,
    tally: RowsTally,
) -> dict[str, SubFeature]:
    """The document's sub-features written, each in its feature; the project's by key."""

    def sub_values(spec: Any) -> dict[str, Any]:
        values = {c: getattr(spec, c) for c in SUB_FEATURE_COLUMNS}
        values["feature_id"] = features[spec.feature].pk
        return values | _identity(spec)

    rows_sync(
        model=SubFeature,
        kind="sub-features",
        existing={s.key: s for s in project.sub_features.all()},
        specs=document.sub_features,
        key_of=lambda s: s.key,
        columns=(*SUB_FEATURE_COLUMNS, "feature_id", "source_identity"),
        build=lambda s, v: {"project_id": project.pk, "key": s.key, **v, **_initial_status(s)},
        values_of=sub_values,
        result=result,
        prune=stale_rows,
        tally=tally,
    )
    return {s.key: s for s in project.sub_features.all()}


def _apply_links(
    project: Project,
    document: PlanDocument,
    features: dict[str, Feature],
    requirements: dict[str, Requirement],
    sub_features: dict[str, SubFeature],
    tasks: dict[str, int],
    result: ApplyResult,
) -> None:
    """Requirements' features, plans' requirements, and plans' and tasks' dependencies
    made exactly those the document lists."""
    links_sync(
        through=Requirement.features.through,
        owner_field="requirement_id",
        target_field="feature_id",
        owners=[requirements[r.code or f"\0{r.description}"].pk for r in document.requirements],
        wanted={
            (requirements[r.code or f"\0{r.description}"].pk, features[key].pk)
            for r in document.requirements
            for key in r.features
        },
        result=result,
        kind="requirement links",
        project=project,
    )
    links_sync(
        through=SubFeature.requirements.through,
        owner_field="subfeature_id",
        target_field="requirement_id",
        owners=[sub_features[s.key].pk for s in document.sub_features],
        wanted={
            (sub_features[s.key].pk, requirements[code].pk)
            for s in document.sub_features
            for code in s.requirements
        },
        result=result,
        kind="requirement links",
        project=project,
    )
    links_sync(
        through=SubFeatureDependency,
        owner_field="sub_feature_id",
        target_field="depends_on_id",
        owners=[sub_features[s.key].pk for s in document.sub_features],
        wanted={
            (sub_features[s.key].pk, sub_features[d].pk)
            for s in document.sub_features
            for d in s.depends_on
        },
        result=result,
        kind="dependencies",
        project=project,
    )
    links_sync(
        through=TaskDependency,
        owner_field="task_id",
        target_field="depends_on_id",
        owners=[tasks[t.key] for t in document.tasks],
        wanted={(tasks[t.key], tasks[d]) for t in document.tasks for d in t.depends_on},
        result=result,
        kind="dependencies",
        project=project,
    )


def _delete_stale(project: Project, stale_rows: StaleRows | None, result: ApplyResult) -> None:
    """Delete the rows a pruning apply found stale, children first."""
    for model, pks, kind in reversed(stale_rows or []):
        model._default_manager.filter(pk__in=pks).delete()
        result.removed[kind] += len(pks)
    if any(pks for _, pks, _ in stale_rows or []):
        plan_rows_deleted(project_id=project.pk)


def _initial_status(spec: Any) -> dict[str, str]:
    """A new feature or sub-feature starts in the state its source gives, if any (a
    roadmap's `[x]`); the roll-up leaves a container without tasks as it is."""
    return {"status": spec.status} if spec.status else {}


def _identity(spec: Any) -> dict[str, str]:
    # A document without identities (an older version's snapshot, a chat edit) keeps the
    # rows' own, so a later re-import still finds them.
    return {"source_identity": spec.identity} if spec.identity else {}


def plan_references_checked() -> None:
    """Check the references of the rows written so far (core.db.references_checked_now),
    a broken one reported as PlanImportError."""
    try:
        references_checked_now()
    except IntegrityError as exc:
        raise PlanImportError(f"the plan breaks a database rule: {exc}") from exc


def plan_apply_or_explain(
    *,
    project: Project,
    document: PlanDocument,
    prune: bool = False,
    validated: bool = False,
    progress: RowsProgress | None = None,
) -> ApplyResult:
    """plan_apply, with database constraint failures reported as PlanImportError."""
    try:
        return plan_apply(
            project=project,
            document=document,
            prune=prune,
            validated=validated,
            progress=progress,
        )
    except IntegrityError as exc:
        raise PlanImportError(f"the plan breaks a database rule: {exc}") from exc


def task_reset_to_pending(*, project: Project, keys: Sequence[str]) -> list[str]:
    """Send the project's tasks `keys` back to pending, unassigned and not started (a
    restore whose version holds another task under their key). Returns the keys reset,
    in order."""
    tasks = Task.objects.filter(project=project, key__in=keys).exclude(status=Task.Status.PENDING)
    reset = sorted(tasks.values_list("key", flat=True), key=natural_sort_key)
    tasks.update(
        status=Task.Status.PENDING,
        started_at=None,
        completed_at=None,
        assigned_agent=None,
        updated_at=timezone.now(),
    )
    if reset:
        plan_status_rollup(project_id=project.pk)
    return reset
