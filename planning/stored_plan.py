"""The working plan a document leaves behind, known without reading it back.

An import into a project that holds nothing yet makes the whole plan out of one
document, and its first version snapshots that plan. Reading 20,000 rows back to
snapshot them costs as much as writing them did; the document already says what they
hold, wherever the database stores each value as it is. Where it might not (see
`as_stored`), the version reads the rows, as any other version does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from planning.importers.document import FeatureSpec, PlanDocument, TaskSpec
from planning.models import TaskStatus


def as_stored(document: PlanDocument) -> PlanDocument | None:
    """`document` as selectors.plan_document reads back the rows plan_apply made of it
    in a project that held no other row, or None when that is not certain without
    reading them:

    - it has requirements or plans, whose rows are matched and linked in ways not
      repeated here (two requirements without a code are one row, say);
    - a value the database keeps in another form: a float inside JSON (PostgreSQL's
      jsonb writes 1e20 back as an integer), a bool where a number goes, a tuple where
      a list goes, text that is not a string, a dependency listed twice.

    Tasks without a status are given the one their row starts with; nothing else is
    copied, and `document` itself is left as it is."""
    if document.requirements or document.sub_features:
        return None
    if not all(_feature_as_stored(feature) for feature in document.features):
        return None
    tasks: list[TaskSpec] = []
    for task in document.tasks:
        if not _task_as_stored(task):
            return None
        tasks.append(
            task if task.status else dataclasses.replace(task, status=TaskStatus.PENDING.value)
        )
    return dataclasses.replace(document, tasks=tasks)


def _feature_as_stored(feature: FeatureSpec) -> bool:
    return (
        isinstance(feature.key, str)
        and isinstance(feature.name, str)
        and isinstance(feature.description, str)
        and isinstance(feature.priority, str)
        and type(feature.position) is int
    )


def _task_as_stored(task: TaskSpec) -> bool:
    # Written out, not looped over field names: it runs for each of 20,000 tasks.
    depends_on, files = task.depends_on, task.files
    return (
        isinstance(task.key, str)
        and isinstance(task.name, str)
        and isinstance(task.description, str)
        and isinstance(task.verify, str)
        and isinstance(task.done_criteria, str)
        and isinstance(task.type, str)
        and isinstance(task.size, str)
        and isinstance(task.priority, str)
        and type(task.wave) is int
        and type(task.position) is int
        and type(task.estimated_minutes) is int
        and type(task.max_iterations) is int
        and (task.complexity is None or type(task.complexity) is int)
        and (task.feature is None or isinstance(task.feature, str))
        and task.sub_feature is None
        and (task.parent is None or isinstance(task.parent, str))
        and isinstance(task.identity, str)
        and type(files) is list
        and (not files or all(isinstance(path, str) for path in files))
        and type(depends_on) is list
        and (len(depends_on) < 2 or len(set(depends_on)) == len(depends_on))
        and type(task.extra) is dict
        and json_as_stored(task.extra)
    )


def json_as_stored(value: Any) -> bool:
    """Whether JSON `value` reads back from either database exactly as it is: only
    objects with text keys, lists, text, integers, booleans and nulls (no floats, whose
    form PostgreSQL may change). Walks without recursion."""
    if type(value) is dict and all(type(item) is str for item in value.values()):
        return all(isinstance(key, str) for key in value)  # most tasks' extra
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            if not all(isinstance(key, str) for key in item):
                return False
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif not (isinstance(item, str) or kind is int or kind is bool or item is None):
            return False
    return True
