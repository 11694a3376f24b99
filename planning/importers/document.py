"""The format-neutral plan document every importer produces and every exporter reads.

Its `to_snapshot()` form is exactly what a `DevPlanVersion` stores, so importing,
versioning, diffing and exporting all speak one shape. Its checks are in
planning.importers.document_checks; `Origin` and `PlanImportError`, which importers take
from here, in planning.importers.errors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from core.shapes import JsonShape
from planning import shapes
from planning.importers.document_checks import SUB_FEATURE_SHAPES, TASK_SHAPES, check_document
from planning.importers.errors import Origin, PlanImportError
from planning.models import Priority, RequirementPriority, TaskSize, TaskType

SNAPSHOT_FORMAT = 1
# The largest wave a task's column holds (a PositiveSmallIntegerField).
MAX_WAVE = 32_767

logger = logging.getLogger(__name__)


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
                SubFeatureSpec, snapshot.get("sub_features", []), SUB_FEATURE_SHAPES, where
            ),
            tasks=_specs(TaskSpec, snapshot.get("tasks", []), TASK_SHAPES, where),
            source=source,
        )

    def validate(self, *, nul_free: bool = False) -> None:
        """Check keys, references, enum values and acyclicity; `nul_free` says that the
        caller has already refused any NUL character in the values.

        Raises PlanImportError naming the offending file and line.
        """
        check_document(self, nul_free=nul_free)

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


__all__ = [
    "CONTENT_HASH",
    "EXECUTION_ONLY",
    "MAX_WAVE",
    "MEANING_FIELDS",
    "SNAPSHOT_FORMAT",
    "FeatureSpec",
    "Origin",
    "PlanDocument",
    "PlanImportError",
    "RequirementSpec",
    "Spec",
    "SubFeatureSpec",
    "TaskSpec",
    "content_hash",
]
