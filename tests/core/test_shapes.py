"""Declared JSON shapes: their messages, their repair of old rows, and the data migrations
that repair every app's mutable tables."""

import importlib
import logging

import pytest
from django.apps import apps

from agents.models import AgentRun, AgentState, DecisionLog
from agents.shapes import DECISION_REASONING
from core.shapes import JsonShape, json_object, string_list
from planning.models import DevPlanVersion, SubFeature, Task
from planning.services.versions import version_create
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    FeatureFactory,
    SubFeatureFactory,
    TaskFactory,
)

FILES = JsonShape(string_list(max_items=3), name="files")
EXTRA = JsonShape(json_object({"read_first": string_list()}, max_properties=2), name="extra")


@pytest.mark.parametrize(
    ("shape", "value", "problem"),
    [
        (FILES, ["a"], None),
        (FILES, 5, "expected an array, not a number (5)"),
        (FILES, True, "expected an array, not a boolean"),
        (FILES, ["a", ["b"]], "[1]: expected a string, not an array"),
        (FILES, ["a"] * 4, "at most 3 items, not 4"),
        (FILES, ["x" * 1001], "[0]: at most 1000 characters, not 1001"),
        (EXTRA, {"read_first": "a"}, "['read_first']: expected an array, not a string"),
        (EXTRA, {"a": 1, "b": 2, "c": 3}, "at most 2 keys, not 3"),
        (EXTRA, None, "expected an object, not null"),
    ],
)
def test_a_problem_is_said_in_one_line(shape, value, problem):
    assert shape.problem(value) == problem
    assert shape.is_valid(value) is (problem is None)


@pytest.mark.parametrize(
    ("shape", "value", "repaired"),
    [
        (FILES, "src/a.py", ["src/a.py"]),
        (FILES, [["a"], {"b": 1}, "c"], ["c"]),
        (FILES, ["a", "b", "c", "d"], ["a", "b", "c"]),
        (FILES, 5, []),
        (EXTRA, {"read_first": "a", "keep": [1]}, {"keep": [1]}),
        (EXTRA, {"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2}),
        (EXTRA, ["not", "an object"], {}),
    ],
)
def test_repair_drops_only_what_does_not_fit(shape, value, repaired):
    default = list if shape is FILES else dict
    assert shape.repaired(value, default=default) == repaired


def test_a_tolerant_read_warns_and_gives_the_default(caplog):
    with caplog.at_level(logging.WARNING, logger="core.shapes"):
        assert FILES.tolerant(5, default=list, where="task T1") == []
        assert FILES.tolerant(["a"], default=list, where="task T2") == ["a"]
    assert caplog.messages == [
        "Skipping a malformed files on task T1: expected an array, not a number (5)"
    ]


def _migration(app_label: str, name: str):
    return importlib.import_module(f"{app_label}.migrations.{name}")


@pytest.mark.django_db
def test_the_planning_migration_repairs_rows_and_says_what_it_changed(project, capsys):
    feature = FeatureFactory(project=project, key="01")
    sub = SubFeatureFactory(feature=feature, key="01-01")
    bad = TaskFactory(project=project, feature=feature, sub_feature=sub, key="T1")
    good = TaskFactory(project=project, key="T2", files=["ok.py"], extra={"read_first": ["a"]})
    Task.objects.filter(pk=bad.pk).update(files=[["a"], "b.py"], extra=5)
    SubFeature.objects.filter(pk=sub.pk).update(files_modified=True, must_haves={"truths": "x"})
    version_create(project=project, summary="before the repair")
    snapshot = DevPlanVersion.objects.get().snapshot

    migration = _migration("planning", "0011_json_shapes_repaired")
    migration.json_fields_repair("planning", migration.REPAIRS)(apps, None)

    bad.refresh_from_db()
    assert (bad.files, bad.extra) == (["b.py"], {})
    sub.refresh_from_db()
    assert (sub.files_modified, sub.must_haves) == ([], {})
    good_before = (good.files, good.extra)
    good.refresh_from_db()
    assert (good.files, good.extra) == good_before
    # The immutable version is left as it was.
    assert DevPlanVersion.objects.get().snapshot == snapshot
    out = capsys.readouterr().out
    assert f"planning.Task {bad.pk} files: [0]: expected a string, not an array; now" in out
    assert "planning.Task.files: repaired 1 rows" in out
    assert "planning.SubFeature.files_modified: repaired 1 rows" in out
    assert "planning.SubFeature.must_haves: repaired 1 rows" in out
    assert "Task.extra: repaired 1 rows" in out
    assert "Project" not in out


@pytest.mark.django_db
def test_the_agents_migration_leaves_append_only_rows_to_their_readers(project, capsys):
    run = AgentRunFactory(project=project)
    AgentRun.objects.filter(pk=run.pk).update(result=["done"])
    AgentState.objects.create(project=project, namespace="n", key="k", value=list(range(10_001)))
    # An audit row stored without its shape checked: it cannot be updated, so it stays.
    DecisionLog.objects.create(
        project=project, agent=AgentFactory(project=project), decision="d", reasoning="because"
    )

    migration = _migration("agents", "0013_json_shapes_repaired")
    migration.json_fields_repair("agents", migration.REPAIRS)(apps, None)

    run.refresh_from_db()
    assert run.result == {}
    assert AgentState.objects.get().value is None
    assert DecisionLog.objects.get().reasoning == "because"
    assert DECISION_REASONING.tolerant("because", default=dict, where="decision") == {}
    out = capsys.readouterr().out
    assert "agents.AgentRun.result: repaired 1 rows" in out
    assert "agents.AgentState.value: repaired 1 rows" in out
    assert "DecisionLog" not in out


def _all_shapes() -> list[JsonShape]:
    modules = [importlib.import_module(f"{app}.shapes") for app in ("planning", "agents", "memory")]
    return [v for m in modules for v in vars(m).values() if isinstance(v, JsonShape)]


SAMPLES = [
    None,
    True,
    0,
    1.5,
    "text",
    [],
    [True],
    ["a", 1],
    {},
    {"parent": True},
    {"parent": 3},
    {"options": [{"id": True, "pros": ["a", 2]}]},
    {"truths": ["a"], "artifacts": "x"},
    {"edit_status": "applied", "version": 2.0},
    {"confidence": 2},
]


@pytest.mark.parametrize("shape", _all_shapes(), ids=lambda s: s.name)
def test_the_compiled_check_agrees_with_jsonschema(shape):
    for value in SAMPLES:
        assert shape._fits_fast(value) is bool(shape._validator.is_valid(value)), value
