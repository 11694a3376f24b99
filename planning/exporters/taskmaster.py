"""A Task Master `tasks.json` that Task Master itself reads: one `master` tag, numeric
ids, subtasks nested under their task with numeric ids, and dependencies written the way
Task Master resolves them (a subtask's bare number is a sibling, `3.2` a subtask
elsewhere).

Each task keeps Crewboard's key and plan place in `metadata.crewboard`, and the first task
the features, plans and requirements, so importing the export gives back the identical
plan.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from typing import Any

from core.text import natural_sort_key
from planning.importers.document import PlanDocument, TaskSpec
from planning.importers.taskmaster import DEFAULT_TAG
from planning.importers.taskmaster_exported import CREWBOARD, CREWBOARD_TASK_FIELDS

STATUS_OUT = {
    "pending": "pending",
    "in_progress": "in-progress",
    "review": "review",
    "blocked": "blocked",
    "done": "done",
    "deferred": "deferred",
    "cancelled": "cancelled",
    # Task Master has no "failed": the task waits for someone, which is what blocked says.
    "failed": "blocked",
}
TASK_MASTER_FIELDS = {"details", "metadata", "priority"}


def export_tasks_json(document: PlanDocument, *, name: str = "Crewboard plan") -> str:
    """The plan as Task Master's tagged format, every task in the `master` tag."""
    top, children = _in_plan_order(document)
    ids = _numeric_ids(top, children)
    snapshot = document.to_snapshot()
    tasks = [_task_out(t, ids, children.get(t.key, [])) for t in top]
    plan = {
        "features": snapshot["features"],
        "sub_features": snapshot["sub_features"],
        "requirements": snapshot["requirements"],
    }
    if tasks:
        # On a task, not the tag: Task Master rewrites a tag's metadata when it saves.
        tasks[0]["metadata"][CREWBOARD]["plan"] = plan
    tag = {
        "tasks": tasks,
        "metadata": {"name": name, "description": "Exported from Crewboard"},
    }
    return json.dumps({DEFAULT_TAG: tag}, indent=2, ensure_ascii=False) + "\n"


def _in_plan_order(
    document: PlanDocument,
) -> tuple[list[TaskSpec], dict[str, list[TaskSpec]]]:
    feature_rank = {
        f.key: rank
        for rank, f in enumerate(sorted(document.features, key=lambda f: (f.position, f.key)))
    }
    plan_rank = {
        s.key: rank
        for rank, s in enumerate(
            sorted(
                document.sub_features,
                key=lambda s: (feature_rank.get(s.feature, 0), s.position, s.key),
            )
        )
    }
    ordered = sorted(
        document.tasks,
        key=lambda t: (
            feature_rank.get(t.feature or "", -1),
            plan_rank.get(t.sub_feature or "", -1),
            t.position,
            natural_sort_key(t.key),
        ),
    )
    keys = {t.key for t in document.tasks}
    top = [t for t in ordered if t.parent is None or t.parent not in keys]
    children: dict[str, list[TaskSpec]] = defaultdict(list)
    for task in ordered:
        if task.parent is not None and task.parent in keys:
            children[task.parent].append(task)
    return top, children


def _numeric_ids(
    top: list[TaskSpec], children: dict[str, list[TaskSpec]]
) -> dict[str, tuple[int, ...]]:
    """Task key → (id,) or (parent id, subtask id). Keys that are Task Master ids
    already (`12`, `12.3`) keep them; the others take the next free numbers."""
    ids: dict[str, tuple[int, ...]] = {}
    taken = {int(t.key) for t in top if t.key.isdigit() and int(t.key) > 0}
    kept: set[int] = set()
    free = 1
    for task in top:
        number = int(task.key) if task.key.isdigit() else 0
        if number <= 0 or number in kept:
            while free in taken or free in kept:
                free += 1
            number = free
        kept.add(number)
        ids[task.key] = (number,)
        sub_taken: set[int] = set()
        for sub in children.get(task.key, []):
            suffix = sub.key.removeprefix(f"{task.key}.")
            sub_number = int(suffix) if sub.key != suffix and suffix.isdigit() else 0
            if sub_number <= 0 or sub_number in sub_taken:
                sub_number = max(sub_taken, default=0) + 1
            sub_taken.add(sub_number)
            ids[sub.key] = (number, sub_number)
    return ids


def _dependency_out(key: str, task: TaskSpec, ids: dict[str, tuple[int, ...]]) -> int | str:
    target = ids[key]
    own = ids[task.key]
    if len(target) == 1:
        return target[0]
    if len(own) == 2 and target[0] == own[0]:
        return target[1]  # a sibling: Task Master reads a subtask's bare number so
    return f"{target[0]}.{target[1]}"


def _task_out(
    task: TaskSpec, ids: dict[str, tuple[int, ...]], subtasks: list[TaskSpec]
) -> dict[str, Any]:
    own = ids[task.key]
    spec = asdict(task)
    metadata = task.extra.get("metadata")
    crewboard = {name: spec[name] for name in CREWBOARD_TASK_FIELDS}
    if not task.description.strip():
        # Task Master refuses a task without a description: it gets the title, and the
        # metadata says the description was empty.
        crewboard["description"] = task.description
    data: dict[str, Any] = {
        "id": own[-1],
        "title": task.name,
        "description": task.description if task.description.strip() else task.name,
        "details": str(task.extra.get("details", "")),
        "testStrategy": task.verify,
        "status": STATUS_OUT.get(task.status or "pending", "pending"),
        "priority": str(task.extra.get("priority") or task.priority),
        "dependencies": [_dependency_out(d, task, ids) for d in sorted(task.depends_on)],
    }
    if task.complexity is not None:
        data["complexity"] = task.complexity
    for key, value in task.extra.items():
        if key not in TASK_MASTER_FIELDS and key not in data:
            data[key] = value
    data["metadata"] = {
        **(metadata if isinstance(metadata, dict) else {}),
        CREWBOARD: crewboard,
    }
    if len(own) == 1:
        data["subtasks"] = [_task_out(s, ids, []) for s in subtasks]
    return data
