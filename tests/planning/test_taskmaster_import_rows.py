"""A Task Master file of every shape the reader takes imports to exactly the rows it
always has: the digest below was taken before the reader and the row inserts were made
faster, so any change to a key, name, line, identity, wave, dependency or column of the
rows (or to a warning) fails here."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from planning.importers import ImportSource, parse_source
from planning.models import Feature, Task, TaskDependency
from planning.services.imports import plan_import

pytestmark = pytest.mark.django_db

EXPECTED_DIGEST = "4175f4b0a3163b4b59c9739af2c1d7f2b9d47ecdaf2d3c09917b2eda8c406e03"


def _task(n: int) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": n if n % 5 else str(n),
        "title": [f"Task {n}", f"- Step {n}:", f"{n}. Numbered", f" Padded {n} "][n % 4],
        "description": "Does one thing.\nOn two lines." if n % 2 else None,
        "status": ["pending", "Done", "todo", "in-progress", "blocked", "deferred"][n % 6],
        "priority": ["high", "medium", "low", "critical", None, "URGENT"][n % 6],
        # Earlier tasks, and now and then the next one (which depends only on earlier).
        "dependencies": sorted({d for d in (n // 2, n - 3) if 0 < d < n})
        + ([n + 1] if n % 11 == 0 else []),
    }
    if n % 3 == 0:
        task["details"] = 'Use "quotes", a \\ backslash and \u00e9t\u00e9 \u2014 [brackets] {too}'
    if n % 7 == 0:
        task["custom"] = {"x": [1, 2.5], "y": None}
    if n % 9 == 0:
        task["tags"] = "ui"
    if n % 8 == 0:
        task["complexity"] = {"score": 3.6} if n % 16 else 7
    if n % 10 == 0:
        task["updatedAt"] = "2025-01-01T00:00:00Z"
    if n % 4 == 0:
        task["subtasks"] = [
            {"id": 1, "title": f"First of {n}", "dependencies": []},
            {"id": "2", "title": f"Second of {n}", "dependencies": [1], "priority": "low"},
            {"id": f"{n}.3", "title": "", "dependencies": [2, n - 1], "status": "done"},
        ]
    return task


def _generated_file() -> str:
    ui = [
        {"id": 1, "title": "Screen", "dependencies": ["master:3"]},
        {"id": 2, "title": "Form", "dependencies": [1, "master:12"], "status": "review"},
    ]
    data = {
        "master": {"tasks": [_task(n) for n in range(1, 121)], "metadata": {"name": "Main"}},
        "ui": {"tasks": ui, "metadata": {}},
        "tags": {"master": {}},
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


def _row(task: Task, keys: dict[int | None, str | None], features: dict[int, str]) -> dict:
    skipped = {"id", "project_id", "created_at", "updated_at", "completed_at"}
    row = {f.attname: getattr(task, f.attname) for f in Task._meta.concrete_fields}
    row = {name: value for name, value in row.items() if name not in skipped}
    row["parent_id"] = keys.get(row["parent_id"])
    row["feature_id"] = features.get(row["feature_id"])
    row["completed"] = task.completed_at is not None
    return row


def test_a_generated_file_imports_to_the_rows_it_always_has(project) -> None:
    source = ImportSource("tasks.json", {"tasks.json": _generated_file()})
    document = parse_source(source, "taskmaster")
    parsed = [
        [t.key, str(t.origin), t.identity, t.wave, t.parent, t.depends_on, t.status]
        for t in document.tasks
    ]
    outcome = plan_import(project=project, source=source, fmt="taskmaster")
    tasks = list(Task.objects.filter(project=project).order_by("key"))
    keys: dict[int | None, str | None] = {t.pk: t.key for t in tasks}
    features = dict(Feature.objects.filter(project=project).values_list("pk", "key"))
    everything = {
        "parsed": parsed,
        "snapshot": document.to_snapshot(),
        "warnings": outcome.warnings,
        "summary": outcome.summary(),
        "features": sorted(features.values()),
        "tasks": [_row(t, keys, features) for t in tasks],
        "dependencies": sorted(
            (keys[a], keys[b])
            for a, b in TaskDependency.objects.filter(task__project=project).values_list(
                "task_id", "depends_on_id"
            )
        ),
    }
    text = json.dumps(everything, sort_keys=True, default=str)
    assert len(tasks) == 120 + 30 * 3 + 2
    assert hashlib.sha256(text.encode()).hexdigest() == EXPECTED_DIGEST
