"""A task's subtasks written in one go: what expanding a task leaves in the plan."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core.text import natural_sort_key
from planning.importers.document import PlanDocument, PlanImportError, TaskSpec
from planning.models import Task, TaskDependency
from planning.services._common import PlanError, plan_rows_deleted
from planning.services.rollup import plan_status_rollup

# Checked by other means: the relations come from the parent, in its project.
_RELATIONS = (
    "project",
    "feature",
    "sub_feature",
    "parent",
    "assigned_agent",
    "coded_by",
    "merged_by",
    "merged_by_agent",
)


@dataclass(frozen=True)
class SubtaskReplacement:
    created: list[Task]
    removed: list[str]


def _free_keys(task: Task, count: int) -> list[str]:
    taken = set(
        Task.objects.filter(project_id=task.project_id, key__startswith=f"{task.key}.")
        .exclude(parent=task)
        .values_list("key", flat=True)
    )
    keys: list[str] = []
    number = 0
    while len(keys) < count:
        number += 1
        if f"{task.key}.{number}" not in taken:
            keys.append(f"{task.key}.{number}")
    return keys


@transaction.atomic
def task_subtasks_replace(
    *, task: Task, subtasks: Sequence[TaskSpec], extra: Mapping[str, Any] | None = None
) -> SubtaskReplacement:
    """Delete `task`'s subtasks and add `subtasks` in their place, in its feature and
    sub-feature, keyed `<key>.<n>` (skipping keys other tasks hold), each waiting for
    the ones its spec's `depends_on` names among `subtasks`. Bulk writes: a constant
    number of queries, whatever the number of subtasks.

    Raises PlanError when `task` is itself a subtask, or when the specs are not a valid
    set of tasks (unknown or cyclic dependencies, bad field values).
    """
    if task.parent_id is not None:
        raise PlanError(f"{task.key} is a subtask: subtasks are one level deep.", field="parent")
    try:
        PlanDocument(tasks=list(subtasks)).validate()
    except PlanImportError as exc:
        raise PlanError(str(exc)) from None
    existing = dict(task.subtasks.values_list("pk", "key"))
    if existing:
        Task.objects.filter(pk__in=existing).delete()
        plan_rows_deleted(project_id=task.project_id)
    keys = dict(zip((spec.key for spec in subtasks), _free_keys(task, len(subtasks)), strict=True))
    rows = [
        Task(
            project_id=task.project_id,
            feature_id=task.feature_id,
            sub_feature_id=task.sub_feature_id,
            parent=task,
            wave=task.wave,
            key=keys[spec.key],
            name=spec.name,
            description=spec.description,
            files=list(spec.files),
            verify=spec.verify,
            done_criteria=spec.done_criteria,
            type=spec.type,
            priority=spec.priority,
            size=spec.size,
            estimated_minutes=spec.estimated_minutes,
            position=spec.position,
            extra=dict(extra or {}),
        )
        for spec in subtasks
    ]
    for row in rows:
        row.sort_key = natural_sort_key(row.key)  # as Task.save does
        try:
            row.clean_fields(exclude=_RELATIONS)
        except ValidationError as exc:
            raise PlanError(f"Subtask {row.key}: {exc.messages[0]}") from None
    created = Task.objects.bulk_create(rows)
    by_spec = {spec.key: row for spec, row in zip(subtasks, created, strict=True)}
    TaskDependency.objects.bulk_create(
        TaskDependency(task=by_spec[spec.key], depends_on=by_spec[dependency])
        for spec in subtasks
        for dependency in spec.depends_on
    )
    # New pending subtasks reopen a done sub-feature, feature or project; removed ones
    # may finish them.
    plan_status_rollup(
        project_id=task.project_id, task_ids=[*existing, *(row.pk for row in created)]
    )
    return SubtaskReplacement(
        created=created, removed=sorted(existing.values(), key=natural_sort_key)
    )
