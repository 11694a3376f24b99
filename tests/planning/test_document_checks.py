"""A plan document's checks name the first task that fails, among thousands that pass,
as they always have: checking every task in one pass first changes nothing they say."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planning.importers.document import (
    FeatureSpec,
    Origin,
    PlanDocument,
    PlanImportError,
    TaskSpec,
)


def _document(**changes: Any) -> PlanDocument:
    """200 valid tasks; task T150 takes `changes`."""
    tasks = [
        TaskSpec(
            key=f"T{n}",
            name=f"Task {n}",
            feature="F",
            extra={"details": "d", "notes": [{"k": "v"}]},
            depends_on=[f"T{n - 1}"] if n > 1 else [],
            origin=Origin("tasks.json", n),
        )
        for n in range(1, 201)
    ]
    tasks[149] = dataclasses.replace(tasks[149], **changes)
    return PlanDocument(features=[FeatureSpec(key="F", name="F")], tasks=tasks)


def test_a_valid_document_passes():
    _document().validate()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "task T150 needs a name of 1-300 characters"),
        ({"name": "x" * 301}, "task T150 needs a name of 1-300 characters"),
        ({"files": "a.py"}, "task T150: files"),
        ({"extra": []}, "task T150: extra"),
        ({"estimated_minutes": True}, "task T150: estimated_minutes must be a whole number"),
        ({"max_iterations": -1}, "task T150: max_iterations must be a whole number"),
        ({"wave": 1.0}, "task T150: wave must be a whole number, not 1.0"),
        ({"position": None}, "task T150: position must be a whole number"),
        ({"feature": "G"}, "task T150 belongs to unknown feature 'G'"),
        ({"sub_feature": "P"}, "task T150 belongs to unknown plan 'P'"),
        ({"type": "robot"}, "task type must be one of"),
        ({"size": "huge"}, "task size must be one of"),
        ({"priority": "now"}, "task priority must be one of"),
        ({"status": "gone"}, "task status must be one of"),
        ({"complexity": 11}, "complexity must be 1-10, not 11"),
        ({"depends_on": ["T9999"]}, "task T150 depends on unknown task 'T9999'"),
        ({"depends_on": ["T150"]}, "task T150 depends on itself"),
        ({"key": "T1"}, "duplicate task key 'T1'"),
        ({"key": "T\t150"}, "contains a control character"),
        ({"key": "T" * 51}, "must be text of at most 50 characters"),
        ({"key": ""}, "every task needs a key"),
        ({"extra": {"notes": [{"k": "v\x00"}]}}, "contains a NUL character"),
        ({"extra": {"n\x00": 1}}, "contains a NUL character"),
        ({"files": ["a\x00.py"]}, "contains a NUL character"),
        ({"done_criteria": "done\x00"}, "contains a NUL character"),
    ],
)
def test_the_failing_task_is_named_with_its_line(changes, message):
    with pytest.raises(PlanImportError) as excinfo:
        _document(**changes).validate()
    assert message in str(excinfo.value)
    assert excinfo.value.origin == Origin("tasks.json", 150)


def test_of_two_failing_tasks_the_first_is_named():
    document = _document(complexity=0)
    document.tasks[10] = dataclasses.replace(document.tasks[10], priority="soon")
    with pytest.raises(PlanImportError, match="task priority must be one of") as excinfo:
        document.validate()
    assert excinfo.value.origin == Origin("tasks.json", 11)


def _graph_document(edges: list[list[int]], order: list[int]) -> PlanDocument:
    """Tasks T0..Tn, task i depending on the tasks `edges[i]`, listed in `order`."""
    return PlanDocument(
        features=[FeatureSpec(key="F", name="F")],
        tasks=[
            TaskSpec(
                key=f"T{i}", name=f"Task {i}", feature="F", depends_on=[f"T{d}" for d in edges[i]]
            )
            for i in order
        ],
    )


def _depths(edges: list[list[int]]) -> dict[str, int]:
    depth: dict[int, int] = {}
    for i, deps in enumerate(edges):
        depth[i] = 1 + max((depth[d] for d in deps), default=0)
    return {f"T{i}": d for i, d in depth.items()}


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_waves_are_dependency_depth_in_whatever_order_tasks_are_listed(data) -> None:
    """Listed after what they depend on (one pass) or before it (a search): the same waves."""
    size = data.draw(st.integers(1, 12))
    edges = [
        data.draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        for i in range(size)
    ]
    order = data.draw(st.permutations(range(size)))
    document = _graph_document(edges, order)
    document.validate()
    document.assign_depth_waves()
    assert {t.key: t.wave for t in document.tasks} == _depths(edges)


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 0, 2]])
def test_a_cycle_is_named_whatever_order_tasks_are_listed(order) -> None:
    document = _graph_document([[2], [0], [1]], order)
    with pytest.raises(PlanImportError, match="the tasks form a dependency cycle: T"):
        document.validate()
