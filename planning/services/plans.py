"""Applying a whole plan document to a project: imports, generation, chat edits, restores."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from core.db import references_checked_now
from core.text import natural_sort_key, noun
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
from planning.row_inserts import rows_insert
from planning.services._common import plan_rows_deleted
from planning.services.external import external_dependencies_sync
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
TASK_COLUMNS = (
    "name",
    "description",
    "files",
    "verify",
    "done_criteria",
    "type",
    "size",
    "priority",
    "complexity",
    "wave",
    "position",
    "estimated_minutes",
    "max_iterations",
    "extra",
)
BATCH = 1000
# The TASK_COLUMNS of a task spec in one call, for the 20,000 rows of a large import.
_task_columns = operator.attrgetter(*TASK_COLUMNS)


@dataclass
class ApplyResult:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    removed: Counter[str] = field(default_factory=Counter)
    # Keys of the tasks a restore sent back to pending, their meaning having changed.
    reset: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)

    def summary(self) -> str:
        parts = []
        for label, counts in (
            ("added", self.created),
            ("changed", self.updated),
            ("removed", self.removed),
        ):
            if counts:
                parts.append(
                    f"{label} "
                    + ", ".join(f"{n} {noun(kind, n)}" for kind, n in sorted(counts.items()))
                )
        return "; ".join(parts) or "no changes"


# Told (rows applied, rows in all) as an apply goes: an import job's progress by row.
RowsProgress = Callable[[int, int], None]


@dataclass
class _Tally:
    """The plan's rows applied so far, reported once per batch (BATCH rows) at most."""

    total: int
    report: RowsProgress | None
    applied: int = 0

    def add(self, count: int) -> None:
        self.applied += count
        if self.report is not None and count:
            self.report(self.applied, self.total)


def _sync(
    *,
    model: type[models.Model],
    kind: str,
    existing: dict[str, Any],
    specs: Sequence[Any],
    key_of: Any,
    columns: Sequence[str],
    build: Any,
    values_of: Any,
    result: ApplyResult,
    prune: list[tuple[type[models.Model], list[int], str]] | None,
    tally: _Tally,
) -> None:
    """Create and update (only what differs) rows to match `specs`, a batch at a time;
    with `prune`, collect the rows the document no longer has, for the caller to delete
    at the end. `build` gives a new row's values by field attname: new rows go in as
    plain rows (row_inserts.rows_insert), never as model instances."""
    now = timezone.now()
    update_fields = list(columns)
    if any(f.name == "updated_at" for f in model._meta.concrete_fields):
        update_fields.append("updated_at")
    for start in range(0, len(specs), BATCH):
        batch = specs[start : start + BATCH]
        to_create: list[dict[str, Any]] = []
        to_update = []
        for spec in batch:
            values = values_of(spec)
            row = existing.get(key_of(spec))
            if row is None:
                to_create.append(build(spec, values))
                continue
            if any(getattr(row, column) != values[column] for column in values):
                for column, value in values.items():
                    setattr(row, column, value)
                if hasattr(row, "updated_at"):
                    row.updated_at = now
                to_update.append(row)
        rows_insert(model, to_create)
        if to_update:
            model._default_manager.bulk_update(to_update, update_fields)
        if to_create:
            result.created[kind] += len(to_create)
        if to_update:
            result.updated[kind] += len(to_update)
        tally.add(len(batch))
    if prune is not None:
        wanted = {key_of(spec) for spec in specs}
        stale = [row.pk for key, row in existing.items() if key not in wanted]
        if stale:
            prune.append((model, stale, kind))


def _sync_links(
    *,
    through: type[models.Model],
    owner_field: str,
    target_field: str,
    owners: Iterable[int],
    wanted: set[tuple[int, int]],
    result: ApplyResult,
    kind: str,
    project: Project,
) -> None:
    """Make the (owner, target) pairs of `owners` exactly `wanted`."""
    owners = set(owners)
    owner_name = through._meta.get_field(owner_field).name
    # Read by project, not by an IN list of every owner: a plan's 20,000 task ids as
    # one parameter cost more to send than the project's links to read.
    current = {
        pair
        for pair in through._default_manager.filter(
            **{f"{owner_name}__project_id": project.pk}
        ).values_list(owner_field, target_field)
        if pair[0] in owners
    }
    missing, extra = wanted - current, current - wanted
    if extra:
        query = models.Q()
        for owner, target in extra:
            query |= models.Q(**{owner_field: owner, target_field: target})
        through._default_manager.filter(query).delete()
    rows_insert(through, [{owner_field: o, target_field: t} for o, t in missing])
    if missing:
        result.created[kind] += len(missing)
    if extra:
        result.removed[kind] += len(extra)


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
    tally = _Tally(
        total=len(document.features)
        + len(document.requirements)
        + len(document.sub_features)
        + len(document.tasks),
        report=progress,
    )
    # Deleted last, children first: a task moved out of a feature that goes away must be
    # re-parented before the feature's cascade could take it (and its status) along.
    stale_rows: list[tuple[type[models.Model], list[int], str]] | None = [] if prune else None

    _sync(
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
    features = {f.key: f for f in project.features.all()}

    _sync(
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
    requirements = {r.code or f"\0{r.description}": r for r in project.requirements.all()}

    def sub_values(spec: Any) -> dict[str, Any]:
        values = {c: getattr(spec, c) for c in SUB_FEATURE_COLUMNS}
        values["feature_id"] = features[spec.feature].pk
        return values | _identity(spec)

    _sync(
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
    sub_features = {s.key: s for s in project.sub_features.all()}

    def task_values(spec: Any) -> dict[str, Any]:
        values = dict(zip(TASK_COLUMNS, _task_columns(spec), strict=True))
        sub = sub_features[spec.sub_feature] if spec.sub_feature else None
        values["sub_feature_id"] = sub.pk if sub else None
        values["feature_id"] = (
            sub.feature_id if sub else (features[spec.feature].pk if spec.feature else None)
        )
        if sub is not None:
            values["wave"] = sub.wave
        values["sort_key"] = natural_sort_key(spec.key)
        if spec.identity:  # as _identity: a document without identities keeps the rows'
            values["source_identity"] = spec.identity
        return values

    existing_tasks = {t.key: t for t in project.tasks.all()}
    task_ids = {key: task.pk for key, task in existing_tasks.items()}

    now = timezone.now()

    def build_task(spec: Any, values: dict[str, Any]) -> dict[str, Any]:
        # `values` is this task's own (task_values makes it for each): filled in place.
        task = values
        task["project_id"] = project.pk
        task["key"] = spec.key
        task["parent_id"] = task_ids[spec.parent] if spec.parent else None
        if spec.status:
            task["status"] = spec.status
            if spec.status == Task.Status.DONE:
                task["completed_at"] = now
        return task

    # New rows are made with their parent: subtasks of new tasks after those tasks, so
    # no second pass over thousands of rows has to set it.
    later = [t for t in document.tasks if t.parent and t.parent not in existing_tasks]
    first = [t for t in document.tasks if not (t.parent and t.parent not in existing_tasks)]
    for specs in (first, later):
        if not specs:
            continue
        if specs is later:
            task_ids = dict(project.tasks.values_list("key", "id"))
        _sync(
            model=Task,
            kind="tasks",
            existing=existing_tasks,
            specs=specs,
            key_of=lambda s: s.key,
            columns=(
                *TASK_COLUMNS,
                "sub_feature_id",
                "feature_id",
                "sort_key",
                "source_identity",
            ),
            build=build_task,
            values_of=task_values,
            result=result,
            prune=None,
            tally=tally,
        )
    if stale_rows is not None:
        wanted = {t.key for t in document.tasks}
        stale = [task.pk for key, task in existing_tasks.items() if key not in wanted]
        if stale:
            stale_rows.append((Task, stale, "tasks"))
    _apply_statuses(project, document, existing_tasks)
    tasks = dict(project.tasks.values_list("key", "id"))
    _apply_parents(document, tasks, existing_tasks, result)

    _sync_links(
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
    _sync_links(
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
    _sync_links(
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
    _sync_links(
        through=TaskDependency,
        owner_field="task_id",
        target_field="depends_on_id",
        owners=[tasks[t.key] for t in document.tasks],
        wanted={(tasks[t.key], tasks[d]) for t in document.tasks for d in t.depends_on},
        result=result,
        kind="dependencies",
        project=project,
    )
    external_dependencies_sync(sub_features=[sub_features[s.key] for s in document.sub_features])
    for model, pks, kind in reversed(stale_rows or []):
        model._default_manager.filter(pk__in=pks).delete()
        result.removed[kind] += len(pks)
    if any(pks for _, pks, _ in stale_rows or []):
        plan_rows_deleted(project_id=project.pk)
    # Statuses, places and tasks may all have changed: the whole plan is rolled up.
    plan_status_rollup(project_id=project.pk)
    return result


def _initial_status(spec: Any) -> dict[str, str]:
    """A new feature or sub-feature starts in the state its source gives, if any (a
    roadmap's `[x]`); the roll-up leaves a container without tasks as it is."""
    return {"status": spec.status} if spec.status else {}


def _identity(spec: Any) -> dict[str, str]:
    # A document without identities (an older version's snapshot, a chat edit) keeps the
    # rows' own, so a later re-import still finds them.
    return {"source_identity": spec.identity} if spec.identity else {}


def _apply_parents(
    document: PlanDocument, ids: dict[str, int], existing: dict[str, Task], result: ApplyResult
) -> None:
    """Point every existing task of the document at its parent (or at none); new ones
    were made with theirs."""
    changed = []
    for spec in document.tasks:
        task = existing.get(spec.key)
        if task is None:
            continue
        parent_id = ids[spec.parent] if spec.parent else None
        if task.parent_id != parent_id:
            changed.append(Task(pk=task.pk, parent_id=parent_id))
            result.updated["tasks"] += 1
    Task.objects.bulk_update(changed, ["parent_id"], batch_size=BATCH)


def _apply_statuses(project: Project, document: PlanDocument, existing: dict[str, Task]) -> None:
    now = timezone.now()
    changed = []
    for spec in document.tasks:
        task = existing.get(spec.key)
        if task is None or not spec.status or task.status == spec.status:
            continue
        task.status = spec.status
        task.completed_at = (task.completed_at or now) if spec.status == Task.Status.DONE else None
        task.updated_at = now
        changed.append(task)
    Task.objects.bulk_update(changed, ["status", "completed_at", "updated_at"], batch_size=BATCH)


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
