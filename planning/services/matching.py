"""Matching an imported document to the rows a project already has, by source identity.

Before a document is applied (which matches rows by key), each of its features, plans and
tasks takes the key of the row with the same identity; the rest get keys no kept row
holds. So a re-import never moves one task's work, status or history onto another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from planning.importers.document import PlanDocument
from planning.importers.identity import FEATURE_SCOPE, PLAN_SCOPE, Identity, identity_parts
from planning.models import Feature, Project, SubFeature, Task

MAX_KEY = 50
# The formats whose items are known by their text, which an edit may change (where a
# Task Master id or a GSD phase number is a fixed name, and its change a new row).
RENAMEABLE = {"features": {"markdown"}, "sub_features": set(), "tasks": {"gsd", "markdown"}}


@dataclass(frozen=True)
class Row:
    pk: int
    key: str
    identity: str
    # The key of the feature or plan that holds it (tasks only).
    container: str = ""


@dataclass
class ExistingPlan:
    features: list[Row]
    sub_features: list[Row]
    tasks: list[Row]

    @property
    def empty(self) -> bool:
        return not (self.features or self.tasks)

    def sources(self) -> set[str]:
        """The `<format>:<source>` of every imported row."""
        return {
            parsed.source
            for row in (*self.features, *self.sub_features, *self.tasks)
            if (parsed := Identity.parse(row.identity))
        }


def existing_plan(*, project: Project) -> ExistingPlan:
    """The project's features, plans and tasks as matching needs them (three queries)."""
    features = [Row(*values) for values in _values(Feature, project)]
    sub_features = [Row(*values) for values in _values(SubFeature, project)]
    feature_keys = {row.pk: row.key for row in features}
    sub_keys = {row.pk: row.key for row in sub_features}
    tasks = [
        Row(pk, key, identity, sub_keys.get(sub_id) or feature_keys.get(feature_id) or "")
        for pk, key, identity, sub_id, feature_id in Task.objects.filter(
            project=project
        ).values_list("pk", "key", "source_identity", "sub_feature_id", "feature_id")
    ]
    return ExistingPlan(features=features, sub_features=sub_features, tasks=tasks)


def _values(model: type[Feature] | type[SubFeature], project: Project) -> Iterable[Any]:
    return model.objects.filter(project=project).values_list("pk", "key", "source_identity")


@dataclass
class Matching:
    """Which existing row each document row is: {kind: {document key: row key}}, the
    rows matched (by pk), and the existing rows the document leaves out."""

    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    matched: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    stale: dict[str, list[Row]] = field(default_factory=dict)


def match_document(
    document: PlanDocument, existing: ExistingPlan, *, rename_source: str | None = None
) -> Matching:
    """Which existing row each of the document's features, plans and tasks is.

    A row is the existing row with the same source, container and item. With
    `rename_source` (a re-import of that source), a container's only unmatched row of
    that source and the document's only unmatched row in it are the same row renamed,
    where items are text (GSD and Markdown tasks, Markdown headings).
    """
    matching = Matching()
    features = _match_kind(
        "features",
        [(f, "", f.identity) for f in document.features],
        [(row, "") for row in existing.features],
        matching,
        rename_source,
    )
    subs = _match_kind(
        "sub_features",
        [(s, "", s.identity) for s in document.sub_features],
        [(row, "") for row in existing.sub_features],
        matching,
        rename_source,
    )

    def container_of(task: Any) -> str:
        # A new feature or plan holds no existing task, even where its key is a stale one's.
        if task.sub_feature:
            return subs.get(task.sub_feature, f"\0{task.sub_feature}")
        if task.feature:
            return features.get(task.feature, f"\0{task.feature}")
        return ""

    _match_kind(
        "tasks",
        [(t, container_of(t), t.identity) for t in document.tasks],
        [(row, row.container) for row in existing.tasks],
        matching,
        rename_source,
    )
    for kind, rows in _kinds(existing).items():
        matching.stale[kind] = [row for row in rows if row.pk not in matching.matched[kind]]
    return matching


def rekey_document(
    document: PlanDocument, matching: Matching, *, taken: dict[str, set[str]]
) -> None:
    """Give the document's rows the keys `matching` found, in place; the others keep their
    own key where no row in `taken` holds it, else get `<key>-2`, `<key>-3`..."""
    features = _assign_keys(document.features, matching.keys["features"], taken["features"])
    subs = _assign_keys(document.sub_features, matching.keys["sub_features"], taken["sub_features"])
    tasks = _assign_keys(document.tasks, matching.keys["tasks"], taken["tasks"])
    for sub in document.sub_features:
        sub.feature = features.get(sub.feature, sub.feature)
        sub.depends_on = [subs.get(d, d) for d in sub.depends_on]
    for task in document.tasks:
        task.feature = features.get(task.feature, task.feature) if task.feature else None
        task.sub_feature = (
            subs.get(task.sub_feature, task.sub_feature) if task.sub_feature else None
        )
        task.depends_on = [tasks.get(d, d) for d in task.depends_on]
        task.parent = tasks.get(task.parent, task.parent) if task.parent else None
    for requirement in document.requirements:
        requirement.features = [features.get(k, k) for k in requirement.features]


def _kinds(existing: ExistingPlan) -> dict[str, list[Row]]:
    return {
        "features": existing.features,
        "sub_features": existing.sub_features,
        "tasks": existing.tasks,
    }


def _match_key(identity: str, container: str) -> tuple[str, str, str] | None:
    parts = identity_parts(identity)
    if parts is None:
        return None
    source, scope, item = parts
    # Features and plans are matched by their item alone; tasks within their container.
    # Never across sources: task 1 of one tasks.json is no task of another.
    return source, container if scope not in (FEATURE_SCOPE, PLAN_SCOPE) else scope, item


def _match_kind(
    kind: str,
    specs: list[tuple[Any, str, str]],
    rows: list[tuple[Row, str]],
    matching: Matching,
    rename_source: str | None,
) -> dict[str, str]:
    """{document key: the key it takes} for the specs that are existing rows."""
    by_identity: dict[tuple[str, str, str], Row] = {}
    for existing, container in rows:
        match_key = _match_key(existing.identity, container)
        if match_key is not None:
            by_identity.setdefault(match_key, existing)
    keys: dict[str, str] = {}
    used: set[int] = set()
    unmatched: list[tuple[Any, str]] = []
    for spec, container, identity in specs:
        match_key = _match_key(identity, container)
        row = by_identity.get(match_key) if match_key else None
        if row is None or row.pk in used:
            unmatched.append((spec, container))
            continue
        used.add(row.pk)
        keys[spec.key] = row.key
    if rename_source is not None and rename_source.partition(":")[0] in RENAMEABLE[kind]:
        _match_renamed(unmatched, rows, used, keys, rename_source)
    matching.matched[kind] |= used
    matching.keys[kind] = keys
    return keys


def _match_renamed(
    unmatched: list[tuple[Any, str]],
    rows: list[tuple[Row, str]],
    used: set[int],
    keys: dict[str, str],
    source: str,
) -> None:
    """Pair a container's one renamed row with the document's one new row in it."""
    left: dict[str, list[Row]] = defaultdict(list)
    for row, container in rows:
        parsed = Identity.parse(row.identity)
        if row.pk not in used and parsed is not None and parsed.source == source:
            left[container].append(row)
    new: dict[str, list[Any]] = defaultdict(list)
    for spec, container in unmatched:
        new[container].append(spec)
    for container, specs in new.items():
        if len(specs) == 1 and len(left.get(container, [])) == 1:
            row = left[container][0]
            used.add(row.pk)
            keys[specs[0].key] = row.key


def _assign_keys(specs: list[Any], matched: dict[str, str], taken: set[str]) -> dict[str, str]:
    """{document key: its new key} for every spec, and sets each spec's key."""
    keys = dict(matched)
    holds = set(taken) | set(matched.values())
    for spec in specs:
        if spec.key in matched:
            continue
        key, number = spec.key, 1
        while key in holds:
            number += 1
            suffix = f"-{number}"
            key = spec.key[: MAX_KEY - len(suffix)] + suffix
        keys[spec.key] = key
        holds.add(key)
    for spec in specs:
        spec.key = keys[spec.key]
    return keys
