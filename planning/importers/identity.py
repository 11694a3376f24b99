"""Source identities: where in its source each feature, plan and task of a document was.

An identity reads `<format>:<source>|<scope>|<item>`:

- GSD: a phase is `feature|<phase>`, a plan `plan|<NN-MM>`, a task `<NN-MM>|<task name>`;
- Task Master: a tag is `feature|<tag>`, a task `<tag>|<id>` (`12`, `12.3`);
- Markdown: a heading is `feature|<heading>`, an item `<heading>|<item text>`.

`<source>` is the file or folder name without its extensions (`tasks.json` and
`tasks (2).json` differ; `.planning/` and `planning.zip` do not). A re-import matches
rows by source, container and item, so moving, inserting or deleting one task renames
nothing else. Two items of one container with the same text are told apart by
` #2`, ` #3`, in source order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import PurePosixPath

from planning.importers.document import PlanDocument

SEPARATOR = "|"
FEATURE_SCOPE = "feature"
PLAN_SCOPE = "plan"
# Identities are stored in a 1,000-character column; a task name is at most 300.
MAX_PART = 300


@dataclass(frozen=True)
class Identity:
    """An identity taken apart: `source` is `<format>:<source>`."""

    source: str
    scope: str
    item: str

    @property
    def fmt(self) -> str:
        return self.source.partition(":")[0]

    @classmethod
    def parse(cls, text: str) -> Identity | None:
        parts = identity_parts(text)
        return None if parts is None else cls(*parts)


def identity_parts(text: str) -> tuple[str, str, str] | None:
    """The source, scope and item of an identity (Identity.parse's, without an object
    for each of a plan's rows), or None for text that is not one."""
    parts = text.split(SEPARATOR, 2)
    if len(parts) != 3 or ":" not in parts[0]:
        return None
    return parts[0], parts[1], parts[2]


def source_label(fmt: str, name: str) -> str:
    """`taskmaster:tasks` for `tasks.json`, `gsd:planning` for `.planning` or `planning.zip`."""
    stem = PurePosixPath(name.replace("\\", "/")).name.lstrip(".")
    stem = stem.split(".", 1)[0] or stem or "plan"
    return f"{fmt}:{_part(stem)}"


def _part(text: str) -> str:
    return " ".join(text.replace(SEPARATOR, "/").split())[:MAX_PART]


def assign_identities(document: PlanDocument, *, fmt: str, source: str) -> None:
    """Give every feature, plan and task of a freshly parsed `document` its identity."""
    label = source_label(fmt, source)

    seen: dict[tuple[str, str], int] = {}
    # A document has a few containers and thousands of tasks: each scope is made once.
    scope_part = functools.cache(_part)

    def identity(scope: str, item: str) -> str:
        scope = scope_part(scope)
        item = _part(item)
        count = seen[(scope, item)] = seen.get((scope, item), 0) + 1
        suffix = f" #{count}" if count > 1 else ""
        return SEPARATOR.join((label, scope, item + suffix))

    feature_names = {f.key: f.name for f in document.features}
    for feature in document.features:
        item = feature.name if fmt == "markdown" else feature.key
        feature.identity = identity(FEATURE_SCOPE, item)
    for sub in document.sub_features:
        sub.identity = identity(PLAN_SCOPE, sub.key)
    for task in document.tasks:
        if task.sub_feature:
            scope = task.sub_feature
        elif fmt == "markdown":
            scope = feature_names.get(task.feature or "", "")
        else:
            scope = task.feature or ""
        item = task.key.rpartition(":")[2] if fmt == "taskmaster" else task.name
        task.identity = identity(scope, item)
