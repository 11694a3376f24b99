"""The checks a plan document passes before anything is written: keys unique and
well formed, references to rows that exist, enum values known, JSON values of their
declared shapes, subtasks one level deep, and no dependency cycle.

`PlanDocument.validate` runs them; every failure is a PlanImportError naming the row's
file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from core.shapes import JsonShape
from core.text import NUL, contains_control_character, contains_nul
from planning import shapes
from planning.graph import find_cycle
from planning.importers.errors import Origin, PlanImportError
from planning.models import Priority, RequirementPriority, TaskSize, TaskStatus, TaskType

if TYPE_CHECKING:
    from planning.importers.document import PlanDocument, Spec, SubFeatureSpec, TaskSpec

SUB_FEATURE_SHAPES = {
    "files_modified": shapes.SUB_FEATURE_FILES_MODIFIED,
    "must_haves": shapes.SUB_FEATURE_MUST_HAVES,
    "extra": shapes.SUB_FEATURE_EXTRA,
}
TASK_SHAPES = {"files": shapes.TASK_FILES, "extra": shapes.TASK_EXTRA}
_TASK_NUMBERS = ("estimated_minutes", "max_iterations", "wave", "position")


def check_document(document: PlanDocument, *, nul_free: bool = False) -> None:
    """Check keys, references, enum values and acyclicity; `nul_free` says that the
    caller has already refused any NUL character in the values.

    Raises PlanImportError naming the offending file and line.
    """
    specs: list[Spec] = [
        *document.requirements,
        *document.features,
        *document.sub_features,
        *document.tasks,
    ]
    with_nul = None if nul_free else _first_with_nul(specs)
    _expect(
        with_nul is None,
        "contains a NUL character (\\u0000), which cannot be stored",
        with_nul.origin if with_nul is not None else None,
    )
    feature_keys = _unique(document.features, "feature")
    sub_keys = _unique(document.sub_features, "sub-feature")
    task_keys = _unique(document.tasks, "task")
    codes = {r.code for r in document.requirements if r.code}
    _unique([r for r in document.requirements if r.code], "requirement", attr="code")
    for req in document.requirements:
        for key in req.features:
            _expect(
                key in feature_keys,
                f"requirement {req.code} links unknown feature {key!r}",
                req.origin,
            )
        _expect(
            isinstance(req.position, int)
            and not isinstance(req.position, bool)
            and req.position >= 0,
            f"requirement {req.code}: position must be a whole number, not {req.position!r}",
            req.origin,
        )
        _expect(
            req.priority in RequirementPriority.values,
            f"requirement priority must be one of "
            f"{', '.join(RequirementPriority.values)}, not {req.priority!r}",
            req.origin,
        )
    for feature in document.features:
        _expect(
            feature.priority in Priority.values,
            f"priority must be one of {', '.join(Priority.values)}, not {feature.priority!r}",
            feature.origin,
        )
    for sub in document.sub_features:
        _expect_shapes(sub, f"plan {sub.key}", SUB_FEATURE_SHAPES)
        _expect(
            sub.feature in feature_keys,
            f"plan {sub.key} belongs to unknown phase {sub.feature!r}",
            sub.origin,
        )
        _expect(
            isinstance(sub.wave, int) and sub.wave >= 1,
            f"wave must be a whole number of at least 1, not {sub.wave!r}",
            sub.origin,
        )
        for dep in sub.depends_on:
            _expect(dep in sub_keys, f"plan {sub.key} depends on unknown plan {dep!r}", sub.origin)
            _expect(dep != sub.key, f"plan {sub.key} depends on itself", sub.origin)
        for code in sub.requirements:
            _expect(code in codes, f"plan {sub.key} names unknown requirement {code!r}", sub.origin)
    task_types, task_sizes = set(TaskType.values), set(TaskSize.values)
    priorities, statuses = set(Priority.values), set(TaskStatus.values)
    # Joined once: these messages are built for every task, as the checks go.
    type_names, size_names = ", ".join(TaskType.values), ", ".join(TaskSize.values)
    priority_names, status_names = ", ".join(Priority.values), ", ".join(TaskStatus.values)
    files_shape, extra_shape = TASK_SHAPES["files"], TASK_SHAPES["extra"]
    for task in document.tasks:
        # Every check at once; only a task that fails one has them run again, one by
        # one, to name it (20,000 tasks, a dozen messages each, are not built for nothing).
        if (
            isinstance(task.name, str)
            and 0 < len(task.name) <= 300
            and files_shape.problem(task.files) is None
            and extra_shape.problem(task.extra) is None
            and type(task.estimated_minutes) is int
            and task.estimated_minutes >= 0
            and type(task.max_iterations) is int
            and task.max_iterations >= 0
            and type(task.wave) is int
            and task.wave >= 0
            and type(task.position) is int
            and task.position >= 0
            and (task.feature is None or task.feature in feature_keys)
            and (task.sub_feature is None or task.sub_feature in sub_keys)
            and task.type in task_types
            and task.size in task_sizes
            and task.priority in priorities
            and (task.status is None or task.status in statuses)
            and (
                task.complexity is None
                or (isinstance(task.complexity, int) and 1 <= task.complexity <= 10)
            )
            and (
                not task.depends_on
                or all(dep in task_keys and dep != task.key for dep in task.depends_on)
            )
        ):
            continue
        where = task.origin
        _expect(
            isinstance(task.name, str) and 0 < len(task.name) <= 300,
            f"task {task.key} needs a name of 1-300 characters",
            where,
        )
        _expect_shapes(task, f"task {task.key}", TASK_SHAPES)
        for number in _TASK_NUMBERS:
            value = getattr(task, number)
            _expect(
                isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                f"task {task.key}: {number} must be a whole number, not {value!r}",
                where,
            )
        _expect(
            task.feature is None or task.feature in feature_keys,
            f"task {task.key} belongs to unknown feature {task.feature!r}",
            where,
        )
        _expect(
            task.sub_feature is None or task.sub_feature in sub_keys,
            f"task {task.key} belongs to unknown plan {task.sub_feature!r}",
            where,
        )
        _expect(
            task.type in task_types,
            f"task type must be one of {type_names}, not {task.type!r}",
            where,
        )
        _expect(
            task.size in task_sizes,
            f"task size must be one of {size_names}, not {task.size!r}",
            where,
        )
        _expect(
            task.priority in priorities,
            f"task priority must be one of {priority_names}, not {task.priority!r}",
            where,
        )
        _expect(
            task.status is None or task.status in statuses,
            f"task status must be one of {status_names}, not {task.status!r}",
            where,
        )
        _expect(
            task.complexity is None
            or (isinstance(task.complexity, int) and 1 <= task.complexity <= 10),
            f"complexity must be 1-10, not {task.complexity!r}",
            where,
        )
        for dep in task.depends_on:
            _expect(dep in task_keys, f"task {task.key} depends on unknown task {dep!r}", where)
            _expect(dep != task.key, f"task {task.key} depends on itself", where)
    _check_parents(document)
    _reject_cycles(document)


def _check_parents(document: PlanDocument) -> None:
    """A subtask's parent is a task of the same feature that is not a subtask itself."""
    tasks = {t.key: t for t in document.tasks}
    for task in document.tasks:
        if task.parent is None:
            continue
        parent = tasks.get(task.parent)
        if parent is None:
            raise PlanImportError(
                f"task {task.key} is a subtask of unknown task {task.parent!r}",
                origin=task.origin,
            )
        _expect(
            parent.parent is None,
            f"task {task.key} is a subtask of {parent.key}, itself a subtask: subtasks "
            "nest one level deep",
            task.origin,
        )
        _expect(
            parent.feature == task.feature,
            f"subtask {task.key} must be in its parent {parent.key}'s feature",
            task.origin,
        )


def _reject_cycles(document: PlanDocument) -> None:
    for label, specs in (("plans", document.sub_features), ("tasks", document.tasks)):
        if _depends_on_earlier(specs):
            continue
        graph = {s.key: list(s.depends_on) for s in specs}
        cycle = find_cycle(graph)
        if cycle:
            first = next(s for s in specs if s.key == cycle[0])
            raise PlanImportError(
                f"the {label} form a dependency cycle: {' -> '.join(cycle)}",
                origin=first.origin,
            )


def _depends_on_earlier(specs: Sequence[SubFeatureSpec] | Sequence[TaskSpec]) -> bool:
    """Whether every spec depends only on specs before it, as most files list them: then
    their dependencies form no cycle, and the search for one can be left out."""
    seen: set[str] = set()
    for spec in specs:
        for dep in spec.depends_on:
            if dep not in seen:
                return False
        seen.add(spec.key)
    return True


_COMPARED_FIELDS: dict[type, tuple[str, ...]] = {}


def _compared_fields(cls: type) -> tuple[str, ...]:
    # dataclasses.fields() builds its answer on every call: once per class, not per row.
    if cls not in _COMPARED_FIELDS:
        _COMPARED_FIELDS[cls] = tuple(f.name for f in fields(cls) if f.compare)
    return _COMPARED_FIELDS[cls]


def _first_with_nul(specs: Sequence[Spec]) -> Spec | None:
    """The first spec holding a NUL in any compared field (contains_nul), or None. Text
    and numbers, most of the values, are looked at in place; only lists and objects are
    walked."""
    for spec in specs:
        attributes = spec.__dict__
        for name in _compared_fields(type(spec)):
            value = attributes[name]
            kind = type(value)
            if kind is str:
                if NUL in value:
                    return spec
            elif not (value is None or kind is int or kind is bool) and contains_nul(value):
                return spec
    return None


def _unique(specs: Sequence[Spec], what: str, *, attr: str = "key") -> set[str]:
    seen: set[str] = set()
    for spec in specs:
        value = getattr(spec, attr)
        # As below, in one test first: the messages are built only for a spec that fails.
        if (
            value
            and isinstance(value, str)
            and len(value) <= 50
            and value not in seen
            and not contains_control_character(value)
        ):
            seen.add(value)
            continue
        _expect(bool(value), f"every {what} needs a {attr}", spec.origin)
        _expect(
            isinstance(value, str) and len(value) <= 50,
            f"{what} {attr} {value!r} must be text of at most 50 characters",
            spec.origin,
        )
        _expect(
            not contains_control_character(value),
            f"{what} {attr} {value!r} contains a control character",
            spec.origin,
        )
        _expect(value not in seen, f"duplicate {what} {attr} {value!r}", spec.origin)
        seen.add(value)
    return seen


def _expect_shapes(spec: Any, what: str, checks: dict[str, JsonShape]) -> None:
    # The same shapes the models declare, so a document never writes what a form refuses.
    for name, shape in checks.items():
        problem = shape.problem(getattr(spec, name))
        _expect(problem is None, f"{what}: {name} {problem}", spec.origin)


def _expect(condition: bool, message: str, origin: Origin | None) -> None:
    if not condition:
        raise PlanImportError(message, origin=origin)
