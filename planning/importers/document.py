"""The format-neutral plan document every importer produces and every exporter reads.

Its `to_snapshot()` form is exactly what a `DevPlanVersion` stores, so importing,
versioning, diffing and exporting all speak one shape.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from core.shapes import JsonShape
from core.text import NUL, contains_control_character, contains_nul
from planning import shapes
from planning.graph import find_cycle
from planning.models import Priority, RequirementPriority, TaskSize, TaskStatus, TaskType

SNAPSHOT_FORMAT = 1
# The largest wave a task's column holds (a PositiveSmallIntegerField).
MAX_WAVE = 32_767

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """Where a spec came from, for error messages."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class PlanImportError(Exception):
    """Input that cannot become a plan. Names the file, the line and what was expected."""

    def __init__(self, message: str, *, origin: Origin | None = None) -> None:
        self.origin = origin
        self.reason = message
        super().__init__(f"{origin}: {message}" if origin else message)


@dataclass(kw_only=True)
class RequirementSpec:
    code: str
    description: str
    category: str = ""
    priority: str = RequirementPriority.SHOULD
    source: str = ""
    validated: bool = False
    features: list[str] = field(default_factory=list)
    # Its place among the project's requirements (ties: by code).
    position: int = 0
    origin: Origin | None = field(default=None, compare=False, repr=False)


@dataclass(kw_only=True)
class FeatureSpec:
    key: str
    name: str
    description: str = ""
    priority: str = Priority.MEDIUM
    position: int = 0
    # The state a new feature starts in when the source says (a roadmap's `[x]` phase
    # without plans); never part of a snapshot.
    status: str | None = field(default=None, compare=False)
    # Where the source had it (see planning/importers/identity.py); "" for rows made here.
    identity: str = ""
    origin: Origin | None = field(default=None, compare=False, repr=False)


@dataclass(kw_only=True)
class SubFeatureSpec:
    key: str
    feature: str
    name: str
    objective: str = ""
    wave: int = 1
    autonomous: bool = True
    files_modified: list[str] = field(default_factory=list)
    must_haves: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    position: int = 0
    depends_on: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    # As FeatureSpec.status, for a plan a roadmap lists as done without its file.
    status: str | None = field(default=None, compare=False)
    # Where the source had it (see planning/importers/identity.py); "" for rows made here.
    identity: str = ""
    origin: Origin | None = field(default=None, compare=False, repr=False)


@dataclass(kw_only=True)
class TaskSpec:
    key: str
    name: str
    feature: str | None = None
    sub_feature: str | None = None
    description: str = ""
    files: list[str] = field(default_factory=list)
    verify: str = ""
    done_criteria: str = ""
    type: str = TaskType.AUTO
    size: str = TaskSize.SMALL
    priority: str = Priority.MEDIUM
    complexity: int | None = None
    wave: int = 1
    position: int = 0
    estimated_minutes: int = 15
    max_iterations: int = 50
    extra: dict[str, Any] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    # The key of the task this one is a subtask of (Task Master's `12` for `12.3`).
    parent: str | None = None
    # Execution state an importer may learn (e.g. a GSD SUMMARY.md); never part of a snapshot.
    status: str | None = field(default=None, compare=False)
    # Where the source had it (see planning/importers/identity.py); "" for rows made here.
    identity: str = ""
    origin: Origin | None = field(default=None, compare=False, repr=False)


Spec = RequirementSpec | FeatureSpec | SubFeatureSpec | TaskSpec

# Not the plan's meaning: execution state, and where an importer found a row (a version
# keeps identities beside its snapshot, in DevPlanVersion.source_identities).
EXECUTION_ONLY = {"status", "origin", "identity"}
# The fields that say what a task is: when any of them changes, work done on it no longer
# counts (see version_restore). Place, order, size and estimates do not change its meaning.
MEANING_FIELDS = ("name", "description", "files", "verify", "done_criteria", "type", "extra")
CONTENT_HASH = "content_hash"


# What json.dumps(..., sort_keys=True, ensure_ascii=False) builds on every call, once.
_MEANING_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


def content_hash(task: dict[str, Any]) -> str:
    """A short, stable hash of a task's meaning, from its snapshot or column values."""
    meaning = _MEANING_ENCODER.encode([task.get(name) for name in MEANING_FIELDS])
    return hashlib.blake2b(meaning.encode(), digest_size=12).hexdigest()


_SNAPSHOT_FIELDS: dict[type, tuple[str, ...]] = {}


def _snapshot_fields(cls: type) -> tuple[str, ...]:
    if cls not in _SNAPSHOT_FIELDS:
        _SNAPSHOT_FIELDS[cls] = tuple(f.name for f in fields(cls) if f.name not in EXECUTION_ONLY)
    return _SNAPSHOT_FIELDS[cls]


_COMPARED_FIELDS: dict[type, tuple[str, ...]] = {}


def _compared_fields(cls: type) -> tuple[str, ...]:
    # dataclasses.fields() builds its answer on every call: once per class, not per row.
    if cls not in _COMPARED_FIELDS:
        _COMPARED_FIELDS[cls] = tuple(f.name for f in fields(cls) if f.compare)
    return _COMPARED_FIELDS[cls]


def _as_dict(spec: Any) -> dict[str, Any]:
    # What dataclasses.asdict gives, without its deep copy of every value (a third of a
    # big version's time): the snapshot copies its lists and objects one level down, and
    # nothing writes into their insides.
    data = {}
    attributes = spec.__dict__
    for name in _snapshot_fields(type(spec)):
        value = attributes[name]
        kind = type(value)
        if kind is str or kind is int or value is None:
            pass  # most values: nothing to copy
        elif isinstance(value, list):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        data[name] = value
    # Only subtasks carry a parent, so the snapshots of plans without any stay as they were.
    if data.get("parent", "") is None:
        del data["parent"]
    return data


def _task_row(task: TaskSpec) -> dict[str, Any]:
    row = _as_dict(task) | {"depends_on": sorted(task.depends_on)}
    row[CONTENT_HASH] = content_hash(row)
    return row


def _specs(
    cls: type, items: list[dict[str, Any]], checks: dict[str, JsonShape], where: str
) -> list[Any]:
    specs = []
    defaults = {f.name: f.default_factory for f in fields(cls) if f.name in checks}
    for data in items:
        label = f"{cls.__name__} {data.get('key', data.get('code', '?'))} of {where}"
        data = {
            name: checks[name].tolerant(value, default=defaults[name], where=label)  # type: ignore[arg-type]
            if name in checks
            else value
            for name, value in data.items()
        }
        try:
            specs.append(_from_dict(cls, data))
        except TypeError as exc:  # a required field is missing
            logger.warning("Skipping a malformed %s: %s", label, exc)
    return specs


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)} - EXECUTION_ONLY
    return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class PlanDocument:
    requirements: list[RequirementSpec] = field(default_factory=list)
    features: list[FeatureSpec] = field(default_factory=list)
    sub_features: list[SubFeatureSpec] = field(default_factory=list)
    tasks: list[TaskSpec] = field(default_factory=list)
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_snapshot(self) -> dict[str, Any]:
        """Canonical JSON: lists sorted by key so equal plans give equal snapshots. Each
        task carries the hash of its meaning (`content_hash`)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "requirements": sorted(
                (_as_dict(r) | {"features": sorted(r.features)} for r in self.requirements),
                key=lambda r: (r["code"], r["description"]),
            ),
            "features": sorted((_as_dict(f) for f in self.features), key=lambda f: f["key"]),
            "sub_features": sorted(
                (
                    _as_dict(s)
                    | {"depends_on": sorted(s.depends_on), "requirements": sorted(s.requirements)}
                    for s in self.sub_features
                ),
                key=lambda s: s["key"],
            ),
            "tasks": sorted(
                (_task_row(t) for t in self.tasks),
                key=lambda t: t["key"],
            ),
        }

    def source_identities(self) -> dict[str, dict[str, str]]:
        """{kind: {key: identity}} of the rows an import found somewhere."""
        return {
            kind: {spec.key: spec.identity for spec in specs if spec.identity}
            for kind, specs in (
                ("features", self.features),
                ("sub_features", self.sub_features),
                ("tasks", self.tasks),
            )
        }

    def give_identities(self, identities: dict[str, dict[str, str]]) -> None:
        """Set the identities `source_identities()` returned, by key."""
        for kind, specs in (
            ("features", self.features),
            ("sub_features", self.sub_features),
            ("tasks", self.tasks),
        ):
            known = identities.get(kind, {})
            for spec in specs:
                spec.identity = known.get(spec.key, spec.identity)

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any], *, source: str = "") -> PlanDocument:
        """The document a snapshot holds. A snapshot stored before the shapes were checked
        (versions are immutable, so it cannot be repaired) loses its malformed values,
        each with a warning, rather than failing every reader."""
        where = f"snapshot {source}".strip()
        snapshot = shapes.PLAN_SNAPSHOT.tolerant(snapshot, default=dict, where=where)
        return cls(
            requirements=_specs(RequirementSpec, snapshot.get("requirements", []), {}, where),
            features=_specs(FeatureSpec, snapshot.get("features", []), {}, where),
            sub_features=_specs(
                SubFeatureSpec, snapshot.get("sub_features", []), _SUB_FEATURE_SHAPES, where
            ),
            tasks=_specs(TaskSpec, snapshot.get("tasks", []), _TASK_SHAPES, where),
            source=source,
        )

    def validate(self, *, nul_free: bool = False) -> None:
        """Check keys, references, enum values and acyclicity; `nul_free` says that the
        caller has already refused any NUL character in the values.

        Raises PlanImportError naming the offending file and line.
        """
        specs: list[Spec] = [*self.requirements, *self.features, *self.sub_features, *self.tasks]
        with_nul = None if nul_free else _first_with_nul(specs)
        _expect(
            with_nul is None,
            "contains a NUL character (\\u0000), which cannot be stored",
            with_nul.origin if with_nul is not None else None,
        )
        feature_keys = _unique(self.features, "feature")
        sub_keys = _unique(self.sub_features, "sub-feature")
        task_keys = _unique(self.tasks, "task")
        codes = {r.code for r in self.requirements if r.code}
        _unique([r for r in self.requirements if r.code], "requirement", attr="code")
        for req in self.requirements:
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
        for feature in self.features:
            _expect(
                feature.priority in Priority.values,
                f"priority must be one of {', '.join(Priority.values)}, not {feature.priority!r}",
                feature.origin,
            )
        for sub in self.sub_features:
            _expect_shapes(sub, f"plan {sub.key}", _SUB_FEATURE_SHAPES)
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
                _expect(
                    dep in sub_keys, f"plan {sub.key} depends on unknown plan {dep!r}", sub.origin
                )
                _expect(dep != sub.key, f"plan {sub.key} depends on itself", sub.origin)
            for code in sub.requirements:
                _expect(
                    code in codes, f"plan {sub.key} names unknown requirement {code!r}", sub.origin
                )
        task_types, task_sizes = set(TaskType.values), set(TaskSize.values)
        priorities, statuses = set(Priority.values), set(TaskStatus.values)
        # Joined once: these messages are built for every task, as the checks go.
        type_names, size_names = ", ".join(TaskType.values), ", ".join(TaskSize.values)
        priority_names, status_names = ", ".join(Priority.values), ", ".join(TaskStatus.values)
        files_shape, extra_shape = _TASK_SHAPES["files"], _TASK_SHAPES["extra"]
        for task in self.tasks:
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
            _expect_shapes(task, f"task {task.key}", _TASK_SHAPES)
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
        self._check_parents()
        self._reject_cycles()

    def _check_parents(self) -> None:
        """A subtask's parent is a task of the same feature that is not a subtask itself."""
        tasks = {t.key: t for t in self.tasks}
        for task in self.tasks:
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

    def assign_depth_waves(self) -> None:
        """Give every task outside a plan the wave GSD would: its depth in the dependency
        graph plus 1. Tasks of a plan keep their plan's wave. Call after validate()."""
        waves = _waves_in_order(self.tasks)
        if len(waves) < len(self.tasks):
            self._depth_waves(waves)
        for task in self.tasks:
            if task.sub_feature is None:
                task.wave = min(waves[task.key], MAX_WAVE)

    def _depth_waves(self, waves: dict[str, int]) -> None:
        """Complete `waves` (each a task's final wave) for tasks in any order."""
        tasks = {t.key: t for t in self.tasks}
        for start in self.tasks:
            stack = [start.key]
            while stack:
                key = stack[-1]
                if key in waves:
                    stack.pop()
                    continue
                pending = [d for d in tasks[key].depends_on if d not in waves]
                if pending:
                    stack.extend(pending)
                    continue
                stack.pop()
                waves[key] = 1 + max((waves[d] for d in tasks[key].depends_on), default=0)

    def _reject_cycles(self) -> None:
        for label, specs in (("plans", self.sub_features), ("tasks", self.tasks)):
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


def _waves_in_order(tasks: Sequence[TaskSpec]) -> dict[str, int]:
    """The waves of the tasks up to the first that depends on a later one (or, when none
    does, of them all), in one pass in document order: each task's depth + 1."""
    waves: dict[str, int] = {}
    for task in tasks:
        depends_on = task.depends_on
        if not depends_on:
            waves[task.key] = 1
            continue
        deepest = 0
        for dep in depends_on:
            wave = waves.get(dep)
            if wave is None:
                return waves
            if wave > deepest:
                deepest = wave
        waves[task.key] = deepest + 1
    return waves


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


_SUB_FEATURE_SHAPES = {
    "files_modified": shapes.SUB_FEATURE_FILES_MODIFIED,
    "must_haves": shapes.SUB_FEATURE_MUST_HAVES,
    "extra": shapes.SUB_FEATURE_EXTRA,
}
_TASK_SHAPES = {"files": shapes.TASK_FILES, "extra": shapes.TASK_EXTRA}
_TASK_NUMBERS = ("estimated_minutes", "max_iterations", "wave", "position")


def _expect_shapes(spec: Any, what: str, checks: dict[str, JsonShape]) -> None:
    # The same shapes the models declare, so a document never writes what a form refuses.
    for name, shape in checks.items():
        problem = shape.problem(getattr(spec, name))
        _expect(problem is None, f"{what}: {name} {problem}", spec.origin)


def _expect(condition: bool, message: str, origin: Origin | None) -> None:
    if not condition:
        raise PlanImportError(message, origin=origin)
