"""Task Master `tasks.json`: the tagged format `{"<tag>": {"tasks": [...], "metadata": {}}}`
and the older `{"tasks": [...]}`.

Each tag becomes a feature. Task ids become keys (`12`, subtask `12.3`); tasks of tags
other than `master` are prefixed with the tag (`ui:12.3`) so keys stay unique.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.json_input import MAX_DEPTH, TOO_DEEP, json_depth, text_problem
from planning.importers.document import (
    FeatureSpec,
    Origin,
    PlanDocument,
    PlanImportError,
    TaskSpec,
)

DEFAULT_TAG = "master"
DEFAULT_TAG_NAME = "Task Master tasks"
STATUS_MAP = {
    "pending": "pending",
    "todo": "pending",
    "in-progress": "in_progress",
    "in_progress": "in_progress",
    "review": "review",
    "blocked": "blocked",
    "done": "done",
    "completed": "done",
    "deferred": "deferred",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "failed": "failed",
}
STATUS_OUT = {
    "pending": "pending",
    "in_progress": "in-progress",
    "review": "review",
    "blocked": "blocked",
    "done": "done",
    "deferred": "deferred",
    "cancelled": "cancelled",
    "failed": "failed",
}
KNOWN_TASK_KEYS = {
    "id",
    "title",
    "description",
    "details",
    "testStrategy",
    "status",
    "priority",
    "dependencies",
    "subtasks",
    "complexity",
    "tags",
}


def task_key(tag: str, task_id: str) -> str:
    return task_id if tag == DEFAULT_TAG else f"{tag}:{task_id}"


def parse_tasks_json(text: str, *, path: str = "tasks.json") -> PlanDocument:
    """Raises PlanImportError naming the file and line of the first problem."""
    if json_depth(text) > MAX_DEPTH:
        raise PlanImportError(TOO_DEEP, origin=Origin(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanImportError(
            f"not valid JSON ({exc.msg}): expected a Task Master tasks.json",
            origin=Origin(path, exc.lineno),
        ) from None
    problem = text_problem(data)
    if problem:
        raise PlanImportError(problem, origin=Origin(path))
    if isinstance(data, dict) and isinstance(data.get("tasks"), list):
        tags = {DEFAULT_TAG: data}
    elif (
        isinstance(data, dict)
        and data
        and all(isinstance(v, dict) and isinstance(v.get("tasks"), list) for v in data.values())
    ):
        tags = data
    else:
        raise PlanImportError(
            'expected {"tasks": [...]} or {"<tag>": {"tasks": [...], "metadata": {...}}}',
            origin=Origin(path, 1),
        )
    locator = _Locator(text)
    document = PlanDocument(source=path)
    for position, (tag, body) in enumerate(tags.items()):
        metadata = body.get("metadata") or {}
        document.features.append(
            FeatureSpec(
                key=tag,
                name=str(metadata.get("name") or (DEFAULT_TAG_NAME if tag == DEFAULT_TAG else tag)),
                description=str(metadata.get("description") or ""),
                position=position,
                origin=Origin(path, locator.line_of_key(tag)),
            )
        )
        _parse_tag(document, tag, body["tasks"], path=path, locator=locator)
    _resolve(document, path=path)
    document.validate()
    return document


class _Locator:
    """Approximate line numbers for JSON values, for error messages."""

    def __init__(self, text: str) -> None:
        self.text = text

    def line_of_key(self, key: str) -> int | None:
        match = re.search(rf'"{re.escape(key)}"\s*:', self.text)
        return self.text.count("\n", 0, match.start()) + 1 if match else None

    def line_of_id(self, task_id: Any, after_line: int | None = None) -> int | None:
        start = 0
        if after_line:
            start = sum(len(line) + 1 for line in self.text.split("\n")[: after_line - 1])
        match = re.search(rf'"id"\s*:\s*"?{re.escape(str(task_id))}"?\s*[,}}\n]', self.text[start:])
        return self.text.count("\n", 0, start + match.start()) + 1 if match else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _text_field(raw: dict[str, Any], name: str, task_id: str, origin: Origin) -> str:
    """A field that holds prose: a string or absent. Ids and dependencies may be numbers;
    a title of 5 or a description that is an object is a mistake worth naming."""
    value = raw.get(name)
    if value is None or isinstance(value, str):
        return value or ""
    raise PlanImportError(
        f"task {task_id} has {name} {json.dumps(value)[:60]}: expected text",
        origin=origin,
    )


def _parse_tag(
    document: PlanDocument, tag: str, tasks: list[Any], *, path: str, locator: _Locator
) -> None:
    tag_line = locator.line_of_key(tag)
    for position, raw in enumerate(tasks):
        if not isinstance(raw, dict) or "id" not in raw:
            raise PlanImportError(
                f"task #{position + 1} of tag {tag!r} must be an object with an 'id'",
                origin=Origin(path, tag_line),
            )
        task_id = _text(raw["id"])
        line = locator.line_of_id(raw["id"], tag_line)
        parent = _spec(raw, tag, task_id, position, path=path, line=line)
        document.tasks.append(parent)
        for sub_position, sub in enumerate(raw.get("subtasks") or []):
            if not isinstance(sub, dict) or "id" not in sub:
                raise PlanImportError(
                    f"subtask #{sub_position + 1} of task {task_id} needs an 'id'",
                    origin=Origin(path, line),
                )
            sub_id = _text(sub["id"])
            full_id = sub_id if "." in sub_id else f"{task_id}.{sub_id}"
            spec = _spec(
                sub,
                tag,
                full_id,
                sub_position,
                path=path,
                line=locator.line_of_id(sub["id"], line),
                parent=task_id,
            )
            document.tasks.append(spec)


def _spec(
    raw: dict[str, Any],
    tag: str,
    task_id: str,
    position: int,
    *,
    path: str,
    line: int | None,
    parent: str | None = None,
) -> TaskSpec:
    origin = Origin(path, line)
    title, description, details, test_strategy, status, priority = (
        _text_field(raw, name, task_id, origin)
        for name in ("title", "description", "details", "testStrategy", "status", "priority")
    )
    status = (status or "pending").lower()
    if status not in STATUS_MAP:
        raise PlanImportError(
            f"task {task_id} has status {status!r}: expected one of {', '.join(STATUS_MAP)}",
            origin=origin,
        )
    priority = (priority or "medium").lower()
    complexity = raw.get("complexity")
    if isinstance(complexity, dict):  # some exports nest the complexity report
        complexity = complexity.get("score") or complexity.get("complexityScore")
    if complexity is not None:
        try:
            complexity = round(float(complexity))
        except (TypeError, ValueError):
            raise PlanImportError(
                f"task {task_id} has complexity {complexity!r}: expected a number 1-10",
                origin=origin,
            ) from None
    extra: dict[str, Any] = {
        k: v for k, v in raw.items() if k not in KNOWN_TASK_KEYS and not isinstance(v, dict | list)
    }
    extra.update(
        {k: v for k, v in raw.items() if k not in KNOWN_TASK_KEYS and isinstance(v, dict | list)}
    )
    if details:
        extra["details"] = details
    if raw.get("tags"):
        extra["tags"] = raw["tags"] if isinstance(raw["tags"], list) else [raw["tags"]]
    if parent is not None:
        extra["parent"] = parent
    dependencies = raw.get("dependencies") or []
    if not isinstance(dependencies, list):
        dependencies = [dependencies]
    spec = TaskSpec(
        key=task_key(tag, task_id),
        name=(title or f"Task {task_id}")[:300],
        feature=tag,
        description=description,
        verify=test_strategy,
        priority=priority,
        complexity=complexity,
        position=position,
        extra=extra,
        depends_on=[_text(d) for d in dependencies],
        status=STATUS_MAP[status],
        origin=origin,
    )
    return spec


def _resolve(document: PlanDocument, *, path: str) -> None:
    """Dependency ids → task keys. A subtask's bare number means a sibling subtask."""
    keys = {t.key for t in document.tasks}
    for task in document.tasks:
        tag = task.feature or DEFAULT_TAG
        parent = task.extra.get("parent")
        resolved = []
        for ref in task.depends_on:
            if ":" in ref:  # qualified with a tag: "ui:3", "master:2"
                other_tag, _, other_id = ref.partition(":")
                candidates = [task_key(other_tag, other_id)]
            elif parent is not None and "." not in ref:
                candidates = [task_key(tag, f"{parent}.{ref}"), task_key(tag, ref)]
            else:
                candidates = [task_key(tag, ref)]
            key = next((c for c in candidates if c in keys), None)
            if key is None:
                raise PlanImportError(
                    f"task {task.key} depends on {ref}, which is not a task in this file",
                    origin=task.origin,
                )
            if key != task.key and key not in resolved:
                resolved.append(key)
        task.depends_on = resolved


def export_tasks_json(document: PlanDocument) -> str:
    """The tagged Task Master format, one tag per feature."""
    out: dict[str, Any] = {}
    features = sorted(document.features, key=lambda f: (f.position, f.key))
    by_feature: dict[str | None, list[TaskSpec]] = {f.key: [] for f in features}
    for task in sorted(document.tasks, key=lambda t: (t.position, t.key)):
        by_feature.setdefault(task.feature, []).append(task)
    tag_of = {t.key: t.feature or DEFAULT_TAG for t in document.tasks}
    for feature in features:
        tag = feature.key
        tasks = by_feature.get(tag, [])
        top = [t for t in tasks if "parent" not in t.extra]
        children: dict[str, list[TaskSpec]] = {}
        for t in tasks:
            if "parent" in t.extra:
                children.setdefault(t.extra["parent"], []).append(t)
        out[tag] = {
            "tasks": [_task_out(t, tag, children.get(_local_id(t, tag), []), tag_of) for t in top],
            "metadata": {"name": feature.name, "description": feature.description},
        }
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def _local_id(task: TaskSpec, tag: str) -> str:
    return _local_id_of(task.key, tag)


def _local_id_of(key: str, tag: str) -> str:
    prefix = f"{tag}:"
    return key[len(prefix) :] if key.startswith(prefix) else key


def _id_value(task_id: str) -> int | str:
    return int(task_id) if task_id.isdigit() else task_id


def _task_out(
    task: TaskSpec, tag: str, subtasks: list[TaskSpec], tag_of: dict[str, str]
) -> dict[str, Any]:
    local = _local_id(task, tag)
    data: dict[str, Any] = {
        "id": _id_value(local.rsplit(".", 1)[-1] if "parent" in task.extra else local),
        "title": task.name,
        "description": task.description,
        "details": task.extra.get("details", ""),
        "testStrategy": task.verify,
        "status": STATUS_OUT.get(task.status or "pending", "pending"),
        "priority": task.priority,
        "dependencies": [_dependency_out(d, task, tag, tag_of) for d in task.depends_on],
    }
    if task.complexity is not None:
        data["complexity"] = task.complexity
    for key, value in task.extra.items():
        if key not in ("details", "parent"):
            data[key] = value
    if subtasks:
        data["subtasks"] = [_task_out(s, tag, [], tag_of) for s in subtasks]
    return data


def _dependency_out(key: str, task: TaskSpec, tag: str, tag_of: dict[str, str]) -> int | str:
    other_tag = tag_of.get(key, tag)
    if other_tag != tag:
        return f"{other_tag}:{_local_id_of(key, other_tag)}"
    local = _local_id_of(key, tag)
    parent = task.extra.get("parent")
    if parent is not None and local.startswith(f"{parent}.") and local.count(".") == 1:
        return _id_value(local.split(".", 1)[1])
    return _id_value(local)
