"""Field-by-field differences between two plan snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.text import noun

DIFFED_KINDS = ("requirements", "features", "sub_features", "tasks")
# Bookkeeping that changes with no change of meaning a reader would see: where an import
# found the row, and the hash of fields already compared one by one.
UNDIFFED_FIELDS = {"depends_on", "identity", "content_hash"}


def _key(kind: str, row: dict[str, Any]) -> str:
    key: str = (row["code"] or row["description"]) if kind == "requirements" else row["key"]
    return key


@dataclass
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass
class RowChange:
    key: str
    name: str
    changes: list[FieldChange]


@dataclass
class KindDiff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[RowChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass
class PlanDiff:
    kinds: dict[str, KindDiff]
    edges_added: list[tuple[str, str]]
    edges_removed: list[tuple[str, str]]

    @property
    def empty(self) -> bool:
        return all(k.empty for k in self.kinds.values()) and not (
            self.edges_added or self.edges_removed
        )

    def summary(self) -> str:
        parts = []
        for kind, diff in self.kinds.items():
            label = kind.replace("_", "-")
            for verb, count in (
                ("added", len(diff.added)),
                ("removed", len(diff.removed)),
                ("changed", len(diff.changed)),
            ):
                if count:
                    parts.append(f"{count} {noun(label, count)} {verb}")
        for verb, edges in (("added", self.edges_added), ("removed", self.edges_removed)):
            if edges:
                parts.append(f"{len(edges)} {noun('dependencies', len(edges))} {verb}")
        return ", ".join(parts) or "no changes"

    def as_dict(self) -> dict[str, Any]:
        return {
            **{
                kind: {
                    "added": [_key(kind, r) for r in d.added],
                    "removed": [_key(kind, r) for r in d.removed],
                    "changed": [
                        {
                            "key": c.key,
                            "fields": {
                                f.field: {"before": f.before, "after": f.after} for f in c.changes
                            },
                        }
                        for c in d.changed
                    ],
                }
                for kind, d in self.kinds.items()
            },
            "dependencies": {
                "added": [list(e) for e in self.edges_added],
                "removed": [list(e) for e in self.edges_removed],
            },
            "summary": self.summary(),
        }


def _edges(snapshot: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (row["key"], dep)
        for kind in ("sub_features", "tasks")
        for row in snapshot.get(kind, [])
        for dep in row.get("depends_on", [])
    }


def diff_snapshots(before: dict[str, Any], after: dict[str, Any]) -> PlanDiff:
    """What changed from `before` to `after`. Dependency edges are reported on their own,
    not as a `depends_on` field change."""
    kinds = {}
    for kind in DIFFED_KINDS:
        old = {_key(kind, r): r for r in before.get(kind, [])}
        new = {_key(kind, r): r for r in after.get(kind, [])}
        diff = KindDiff(
            added=[new[k] for k in sorted(new.keys() - old.keys())],
            removed=[old[k] for k in sorted(old.keys() - new.keys())],
        )
        for key in sorted(old.keys() & new.keys()):
            a, b = old[key], new[key]
            if a == b:
                continue
            changes = [
                FieldChange(name, a.get(name), b.get(name))
                for name in sorted(a.keys() | b.keys())
                if name not in UNDIFFED_FIELDS and a.get(name) != b.get(name)
            ]
            if changes:
                diff.changed.append(
                    RowChange(
                        key=key, name=b.get("name") or b.get("description", ""), changes=changes
                    )
                )
        kinds[kind] = diff
    old_edges, new_edges = _edges(before), _edges(after)
    return PlanDiff(
        kinds=kinds,
        edges_added=sorted(new_edges - old_edges),
        edges_removed=sorted(old_edges - new_edges),
    )
