"""The state a checkpoint captures, as canonical JSON, and what differs between two of them.

Pure functions over plain data: the services read the rows and write them back.

A state is::

    {
        "format": 1,
        "plan": <a plan version snapshot: requirements, features, sub-features, tasks>,
        "tasks": {<task key>: {<execution field>: <JSON value>, ...}, ...},
        "agent_state": [{"namespace": ..., "key": ..., "value": ...}, ...],
    }

Times are UTC ISO 8601 strings and the assigned agent is its id, so two states are equal
exactly when their canonical JSON is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from planning.diff import FieldChange, PlanDiff, diff_snapshots

STATE_FORMAT = 1

# What running a task changes, as opposed to what planning it says (the plan snapshot).
EXECUTION_DEFAULTS: dict[str, Any] = {
    "status": "pending",
    "assigned_agent_id": None,
    "worktree_path": "",
    "branch_name": "",
    "qa_iterations": 0,
    "actual_minutes": None,
    "started_at": None,
    "completed_at": None,
}
EXECUTION_FIELDS = tuple(EXECUTION_DEFAULTS)
TIME_FIELDS = ("started_at", "completed_at")


class StateFormatError(ValueError):
    """A checkpoint state this code did not write, or one that was edited by hand."""


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def time_to_json(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def time_from_json(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def execution_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A task's execution fields (model values) as JSON values."""
    data = {name: row[name] for name in EXECUTION_FIELDS}
    for name in TIME_FIELDS:
        data[name] = time_to_json(data[name])
    return data


def execution_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """The model values for execution JSON; fields it lacks take their defaults."""
    values = {name: data.get(name, default) for name, default in EXECUTION_DEFAULTS.items()}
    for name in TIME_FIELDS:
        values[name] = time_from_json(values[name])
    return values


def build_state(
    *,
    plan: dict[str, Any],
    tasks: Iterable[Mapping[str, Any]],
    agent_state: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    """A state from a plan snapshot, task rows (key and execution fields) and entries."""
    return {
        "format": STATE_FORMAT,
        "plan": plan,
        "tasks": {row["key"]: execution_of(row) for row in tasks},
        "agent_state": sorted(
            (
                {"namespace": e["namespace"], "key": e["key"], "value": e["value"]}
                for e in agent_state
            ),
            key=lambda e: (e["namespace"], e["key"]),
        ),
    }


def check_state(state: Any) -> dict[str, Any]:
    """`state` if it has the shape `build_state` gives; raises StateFormatError otherwise."""
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise StateFormatError(f"its state is not a format-{STATE_FORMAT} project snapshot")
    plan, tasks, entries = state.get("plan"), state.get("tasks"), state.get("agent_state")
    if not isinstance(plan, dict):
        raise StateFormatError("its state has no plan")
    if not isinstance(tasks, dict) or not all(isinstance(t, dict) for t in tasks.values()):
        raise StateFormatError("its task execution state is not a mapping of task keys")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("namespace", "key"))
        for e in entries
    ):
        raise StateFormatError("its agent state is not a list of namespace/key entries")
    for key, data in tasks.items():
        for name in TIME_FIELDS:
            try:
                time_from_json(data.get(name))
            except (TypeError, ValueError):
                raise StateFormatError(f"task {key} has an unreadable {name}") from None
    return state


# Differences ---------------------------------------------------------------------------


@dataclass
class TaskExecutionChange:
    key: str
    name: str
    changes: list[FieldChange]


@dataclass
class AgentStateChange:
    namespace: str
    key: str
    before: Any
    after: Any


@dataclass
class AgentStateDiff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[AgentStateChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass
class StateDiff:
    """What differs from `before` to `after`.

    The services diff the project as it is now (before) against a checkpoint (after): what
    a restore would change. The git commits are reported; a restore does not move them.
    """

    plan: PlanDiff
    tasks: list[TaskExecutionChange]
    agent_state: AgentStateDiff
    commit_before: str = ""
    commit_after: str = ""

    @property
    def empty(self) -> bool:
        """True when the database states are equal (the commits may still differ)."""
        return self.plan.empty and not self.tasks and self.agent_state.empty

    @property
    def commit_changed(self) -> bool:
        return self.commit_before != self.commit_after

    def summary(self) -> str:
        parts = [] if self.plan.empty else [self.plan.summary()]
        if self.tasks:
            n = len(self.tasks)
            parts.append(f"{n} {'task' if n == 1 else 'tasks'} with execution changes")
        if not self.agent_state.empty:
            counts = [
                f"{len(rows)} {verb}"
                for verb, rows in (
                    ("added", self.agent_state.added),
                    ("removed", self.agent_state.removed),
                    ("changed", self.agent_state.changed),
                )
                if rows
            ]
            parts.append("agent state " + ", ".join(counts))
        return "; ".join(parts) or "no changes"

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "empty": self.empty,
            "plan": self.plan.as_dict(),
            "tasks": [
                {
                    "key": t.key,
                    "name": t.name,
                    "fields": {c.field: {"before": c.before, "after": c.after} for c in t.changes},
                }
                for t in self.tasks
            ],
            "agent_state": {
                "added": self.agent_state.added,
                "removed": self.agent_state.removed,
                "changed": [
                    {"namespace": c.namespace, "key": c.key, "before": c.before, "after": c.after}
                    for c in self.agent_state.changed
                ],
            },
            "git_commit": {
                "before": self.commit_before,
                "after": self.commit_after,
                "changed": self.commit_changed,
            },
        }


def diff_states(
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    commit_before: str = "",
    commit_after: str = "",
) -> StateDiff:
    """Plan changes, execution changes of tasks on both sides, and agent-state changes.

    Tasks only on one side are the plan diff's added or removed tasks.
    """
    names = {t["key"]: t.get("name", "") for t in before["plan"].get("tasks", [])}
    names.update({t["key"]: t.get("name", "") for t in after["plan"].get("tasks", [])})
    tasks = []
    for key in sorted(before["tasks"].keys() & after["tasks"].keys()):
        old = {**EXECUTION_DEFAULTS, **before["tasks"][key]}
        new = {**EXECUTION_DEFAULTS, **after["tasks"][key]}
        changes = [
            FieldChange(name, old[name], new[name])
            for name in EXECUTION_FIELDS
            if canonical_json(old[name]) != canonical_json(new[name])
        ]
        if changes:
            tasks.append(TaskExecutionChange(key=key, name=names.get(key, ""), changes=changes))

    old_entries = {(e["namespace"], e["key"]): e for e in before["agent_state"]}
    new_entries = {(e["namespace"], e["key"]): e for e in after["agent_state"]}
    entries = AgentStateDiff(
        added=[new_entries[k] for k in sorted(new_entries.keys() - old_entries.keys())],
        removed=[old_entries[k] for k in sorted(old_entries.keys() - new_entries.keys())],
        changed=[
            AgentStateChange(
                namespace=k[0],
                key=k[1],
                before=old_entries[k].get("value"),
                after=new_entries[k].get("value"),
            )
            for k in sorted(old_entries.keys() & new_entries.keys())
            if canonical_json(old_entries[k].get("value"))
            != canonical_json(new_entries[k].get("value"))
        ],
    )
    return StateDiff(
        plan=diff_snapshots(before["plan"], after["plan"]),
        tasks=tasks,
        agent_state=entries,
        commit_before=commit_before,
        commit_after=commit_after,
    )
