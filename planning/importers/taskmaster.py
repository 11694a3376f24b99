"""Task Master `tasks.json`, in every layout Task Master itself reads:

- tagged, `{"<tag>": {"tasks": [...], "metadata": {}}, ...}`: each tag becomes a feature;
  top-level keys that hold no task list (a `tags` index, say) are skipped with a warning;
- the older `{"tasks": [...], "metadata": {}}`, read as the `master` tag.

Task ids become keys (`12`, subtask `12.3`); tasks of tags other than `master` are
prefixed with the tag (`ui:12.3`) so keys stay unique. Subtasks are nested under their
task (`TaskSpec.parent`), inherit its priority when they name none, and a subtask's bare
dependency number means a sibling, as in Task Master. A file Crewboard exported carries
each task's key and plan place in `metadata.crewboard` (and, on its first task, the
features, plans and requirements), which is read back exactly.
"""

from __future__ import annotations

import json
import math
from typing import Any

from planning.importers.document import (
    FeatureSpec,
    Origin,
    PlanDocument,
    PlanImportError,
    TaskSpec,
)
from planning.importers.taskmaster_exported import (
    LOCAL_ID,
    apply_crewboard_fields,
    crewboard_metadata,
    exported_plan,
    read_plan_places,
)
from planning.importers.taskmaster_file import Locator, load_tasks_json

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
# Task Master's priorities above `high`: Crewboard ranks them as high and keeps the
# word in the task's extra fields, so an export writes it back.
ABOVE_HIGH = {"critical", "urgent"}
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
# Task Master's own bookkeeping, which it rewrites whenever it saves a task: not part of
# the plan, so a `set-status` in Task Master changes nothing in it.
TASK_MASTER_BOOKKEEPING = {"updatedAt"}
_KNOWN_KEYS = frozenset(KNOWN_TASK_KEYS | TASK_MASTER_BOOKKEEPING)
_KNOWN_SUBTASK_KEYS = _KNOWN_KEYS - {"subtasks"}


def task_key(tag: str, task_id: str) -> str:
    return task_id if tag == DEFAULT_TAG else f"{tag}:{task_id}"


def parse_tasks_json(text: str, *, path: str = "tasks.json") -> PlanDocument:
    """Raises PlanImportError naming the file and line of the first problem."""
    data = load_tasks_json(text, path)
    locator = Locator(text)
    document = PlanDocument(source=path)
    tags = _tags(data, path, document.warnings)
    for position, (tag, body) in enumerate(tags.items()):
        raw_metadata = body.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        crewboard = exported_plan(body["tasks"])
        if crewboard is not None:
            read_plan_places(document, crewboard, Origin(path, locator.line_of_key(tag)))
        else:
            document.features.append(
                FeatureSpec(
                    key=tag,
                    name=_name(metadata, tag),
                    description=_text(metadata.get("description")),
                    position=position,
                    origin=Origin(path, locator.line_of_key(tag)),
                )
            )
        _parse_tag(document, tag, body["tasks"], path=path, locator=locator)
    exported = _resolve(document)
    # Every value came out of the JSON, which load_tasks_json has looked through for NUL;
    # the one the parser adds itself (LOCAL_ID's key) _resolve has taken out again.
    document.validate(nul_free=True)
    # Waves come from dependency depth, except where Crewboard's export recorded them.
    recorded = {t.key: t.wave for t in document.tasks if t.key in exported}
    document.assign_depth_waves()
    for task in document.tasks:
        task.wave = recorded.get(task.key, task.wave)
    return document


def _is_tag(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("tasks"), list)


def _tags(data: Any, path: str, warnings: list[str]) -> dict[str, dict[str, Any]]:
    """The tags as Task Master finds them: any top-level key besides `tasks` and
    `metadata` makes the file tagged, and each such key holding a task list is a tag."""
    if not isinstance(data, dict):
        raise PlanImportError(
            'expected {"tasks": [...]} or {"<tag>": {"tasks": [...], "metadata": {...}}}',
            origin=Origin(path, 1),
        )
    others = [k for k in data if k not in ("tasks", "metadata")]
    tags = {k: data[k] for k in others if _is_tag(data[k])}
    skipped = [k for k in others if k not in tags]
    if not tags and isinstance(data.get("tasks"), list):
        tags = {DEFAULT_TAG: data}
    elif tags and "tasks" in data:
        skipped.append("tasks")
    if not tags:
        raise PlanImportError(
            'no task list found: expected {"tasks": [...]} or {"<tag>": {"tasks": [...]}}',
            origin=Origin(path, 1),
        )
    for key in skipped:
        warnings.append(f"{path}: top-level {key!r} holds no Task Master tag; it was left out")
    return tags


def _name(metadata: dict[str, Any], tag: str) -> str:
    name = metadata.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()[:300]
    return DEFAULT_TAG_NAME if tag == DEFAULT_TAG else tag[:300]


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


def _plain_id(value: Any) -> str:
    """The id a number or a text gives, or "" where _task_id has to look (and name what is
    wrong): that message is built only for such an id, not for each of 20,000 tasks."""
    kind = value.__class__
    if kind is int:
        return str(value)
    return value.strip() if kind is str else ""


def _task_id(value: Any, what: str, origin: Origin) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value).strip() == "":
        raise PlanImportError(
            f"{what} has id {json.dumps(value)[:60]}: expected a number such as 12",
            origin=origin,
        )
    return str(value).strip()


def _parse_tag(
    document: PlanDocument, tag: str, tasks: list[Any], *, path: str, locator: Locator
) -> None:
    tag_origin = Origin(path, locator.line_of_key(tag))
    position = 0
    for number, raw in enumerate(tasks, start=1):
        if not isinstance(raw, dict) or "id" not in raw:
            raise PlanImportError(
                f"task #{number} of tag {tag!r} must be an object with an 'id'",
                origin=tag_origin,
            )
        origin = Origin(path, locator.line_of_id(raw["id"]))
        task_id = _plain_id(raw["id"]) or _task_id(
            raw["id"], f"task #{number} of tag {tag!r}", origin
        )
        parent = _spec(raw, tag, task_id, position, origin=origin)
        document.tasks.append(parent)
        position += 1
        subtasks = raw.get("subtasks") or []
        if not isinstance(subtasks, list):
            raise PlanImportError(
                f"task {task_id} has subtasks {json.dumps(subtasks)[:60]}: expected a list",
                origin=origin,
            )
        for sub_number, sub in enumerate(subtasks, start=1):
            if not isinstance(sub, dict) or "id" not in sub:
                raise PlanImportError(
                    f"subtask #{sub_number} of task {task_id} needs an 'id'", origin=origin
                )
            sub_origin = Origin(path, locator.line_of_id(sub["id"]) or origin.line)
            sub_id = _plain_id(sub["id"]) or _task_id(
                sub["id"], f"subtask #{sub_number} of task {task_id}", sub_origin
            )
            full_id = sub_id if "." in sub_id else f"{task_id}.{sub_id}"
            spec = _spec(sub, tag, full_id, position, origin=sub_origin, parent=parent)
            document.tasks.append(spec)
            position += 1


def _priority(raw: dict[str, Any], task_id: str, origin: Origin, parent: TaskSpec | None) -> str:
    priority = raw.get("priority")
    if not isinstance(priority, str):
        priority = _text_field(raw, "priority", task_id, origin)
    priority = priority.lower()
    if not priority:
        return parent.priority if parent is not None else "medium"
    return "high" if priority in ABOVE_HIGH else priority


def _complexity(raw: dict[str, Any], task_id: str, origin: Origin) -> int | None:
    complexity = raw.get("complexity")
    if isinstance(complexity, dict):  # some exports nest the complexity report
        complexity = complexity.get("score") or complexity.get("complexityScore")
    if complexity is None:
        return None
    try:
        number = float(complexity)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not (math.isfinite(number) and 1 <= number <= 10):
        raise PlanImportError(
            f"task {task_id} has complexity {json.dumps(complexity)[:60]}: expected a number 1-10",
            origin=origin,
        )
    return round(number)


# A task's text fields, in the order their checks report them.
_TEXT_FIELDS = ("title", "description", "details", "testStrategy", "status")


def _spec(
    raw: dict[str, Any],
    tag: str,
    task_id: str,
    position: int,
    *,
    origin: Origin,
    parent: TaskSpec | None = None,
) -> TaskSpec:
    # Text, as most are, is taken as it is; _text_field looks at the rest, in this order,
    # and names the first that is not text.
    texts = []
    for name in _TEXT_FIELDS:
        value = raw.get(name)
        texts.append(value if isinstance(value, str) else _text_field(raw, name, task_id, origin))
    title, description, details, test_strategy, status = texts
    status = (status or "pending").lower()
    if status not in STATUS_MAP:
        raise PlanImportError(
            f"task {task_id} has status {status!r}: expected one of {', '.join(STATUS_MAP)}",
            origin=origin,
        )
    known = _KNOWN_SUBTASK_KEYS if parent is not None else _KNOWN_KEYS
    # Most tasks hold only Task Master's own fields: one set test instead of a look at each.
    extra: dict[str, Any] = (
        {} if raw.keys() <= known else {k: v for k, v in raw.items() if k not in known}
    )
    crewboard = crewboard_metadata(extra) if extra else None
    if details:
        extra["details"] = details
    if raw.get("tags"):
        extra["tags"] = raw["tags"] if isinstance(raw["tags"], list) else [raw["tags"]]
    raw_priority = raw.get("priority")
    if isinstance(raw_priority, str) and raw_priority.lower() in ABOVE_HIGH:
        extra["priority"] = raw_priority.lower()
    dependencies = raw.get("dependencies") or []
    if not isinstance(dependencies, list):
        dependencies = [dependencies]
    for dependency in dependencies:
        kind = dependency.__class__
        if (
            kind is not int
            and kind is not str
            and (isinstance(dependency, bool) or not isinstance(dependency, int | str))
        ):
            raise PlanImportError(
                f"task {task_id} depends on {json.dumps(dependency)[:60]}: expected a task id",
                origin=origin,
            )
    spec = TaskSpec(
        key=task_id if tag == DEFAULT_TAG else task_key(tag, task_id),
        name=(title or f"Task {task_id}")[:300],
        feature=tag,
        description=description,
        verify=test_strategy,
        priority=_priority(raw, task_id, origin, parent),
        complexity=None if raw.get("complexity") is None else _complexity(raw, task_id, origin),
        position=position,
        extra=extra,
        depends_on=[str(d).strip() for d in dependencies],
        parent=parent.key if parent is not None else None,
        status=STATUS_MAP[status],
        origin=origin,
    )
    if crewboard:
        apply_crewboard_fields(spec, crewboard, origin)
    return spec


def _resolve(document: PlanDocument) -> set[str]:
    """Dependency ids → task keys. A subtask's bare number means a sibling subtask
    (falling back to a task of that number, where no such sibling exists). Returns the
    keys of the tasks read from Crewboard's metadata."""
    by_id: dict[str, str] = {}
    exported: set[str] = set()
    for task in document.tasks:
        local = task.extra.pop(LOCAL_ID, None)
        if local is not None:
            exported.add(task.key)
        if (taken := by_id.setdefault(local or task.key, task.key)) != task.key:
            # Only a task read from Crewboard's metadata can get here: its key is not
            # its id, so the check of duplicate keys passes it by.
            raise PlanImportError(
                f"task id {_bare(local or task.key)} is used by two tasks ({taken} and {task.key})",
                origin=task.origin,
            )
    local_of = {key: local for local, key in by_id.items()}
    for task in document.tasks:
        if not task.depends_on:
            continue
        tag = _tag_of(local_of[task.key])
        parent_local = local_of.get(task.parent) if task.parent else None
        resolved: list[str] = []
        for ref in task.depends_on:
            if ":" in ref:  # qualified with a tag: "ui:3", "master:2"
                other_tag, _, other_id = ref.partition(":")
                key = by_id.get(task_key(other_tag, other_id))
            elif parent_local is not None and "." not in ref:
                key = by_id.get(task_key(tag, f"{_bare(parent_local)}.{ref}"))
                if key is None:
                    key = by_id.get(task_key(tag, ref))
            else:
                key = by_id.get(task_key(tag, ref))
            if key is None:
                raise PlanImportError(
                    f"task {task.key} depends on {ref}, which is not a task in this file",
                    origin=task.origin,
                )
            if key != task.key and key not in resolved:
                resolved.append(key)
        task.depends_on = resolved
    return exported


def _tag_of(local_key: str) -> str:
    return local_key.partition(":")[0] if ":" in local_key else DEFAULT_TAG


def _bare(local_key: str) -> str:
    return local_key.partition(":")[2] if ":" in local_key else local_key
