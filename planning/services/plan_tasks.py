"""How applying a plan writes its tasks: new ones made with their place, status and
parent; existing ones changed only where they differ, their statuses set where the
document carries one and their parents pointed anew. A large import writes 20,000 of
them, so each row's work is done inline, in the closures rows_sync calls once per row.

Called by plan_apply (planning.services.plans) once the features and sub-features the
tasks sit in are written.
"""

from __future__ import annotations

import operator
from typing import Any

from django.utils import timezone

from core.text import natural_sort_key
from planning.importers.document import PlanDocument
from planning.models import Feature, Project, SubFeature, Task
from planning.services.plan_rows import BATCH, ApplyResult, RowsTally, StaleRows, rows_sync

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
# The TASK_COLUMNS of a task spec in one call, for the 20,000 rows of a large import.
_task_columns = operator.attrgetter(*TASK_COLUMNS)


def tasks_apply(
    *,
    project: Project,
    document: PlanDocument,
    features: dict[str, Feature],
    sub_features: dict[str, SubFeature],
    result: ApplyResult,
    stale_rows: StaleRows | None,
    tally: RowsTally,
) -> dict[str, int]:
    """The document's tasks written, in their features and sub-features, with their
    statuses and parents; the ids of the project's tasks by key."""

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
        if spec.identity:  # as plans._identity: a document without identities keeps the rows'
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
        rows_sync(
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
    return tasks


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
