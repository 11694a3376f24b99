"""Task Master files import as Task Master reads them: layouts, nesting, ids, waves, limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.json_input import MAX_DEPTH
from planning import outline, selectors
from planning.diff import diff_snapshots
from planning.importers import ImportSource, PlanImportError, parse_source
from planning.importers.taskmaster import parse_tasks_json
from planning.models import DevPlanVersion, Task
from planning.services.imports import plan_import
from planning.services.versions import version_restore

pytestmark = pytest.mark.django_db

BASE = "/api/v1/projects/crewboard"


def _task(task_id: int, **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "title": f"Task {task_id}", "description": "d"} | fields


NESTED = [
    _task(1, subtasks=[{"id": 1, "title": "1.1"}, {"id": 2, "title": "1.2"}]),
    _task(2, dependencies=[1], subtasks=[{"id": 1, "title": "2.1"}]),
    _task(10, dependencies=["1.2"]),
]


@pytest.mark.parametrize(
    "layout",
    [
        {"tasks": NESTED},
        {"master": {"tasks": NESTED, "metadata": {"name": "Main"}}},
        # A `tags` index beside the real tag, as some Task Master projects have it.
        {"tags": {"master": {"createdAt": "2025-01-01"}}, "master": {"tasks": NESTED}},
    ],
    ids=["legacy", "tagged", "tags-beside-a-tag"],
)
def test_every_layout_gives_the_same_nested_tasks(layout):
    document = parse_tasks_json(json.dumps(layout))
    assert [f.key for f in document.features] == ["master"]
    tasks = {t.key: t for t in document.tasks}
    assert [t.key for t in document.tasks] == ["1", "1.1", "1.2", "2", "2.1", "10"]
    assert tasks["1.1"].parent == "1" and tasks["2.1"].parent == "2" and tasks["1"].parent is None
    assert tasks["10"].depends_on == ["1.2"]
    if "tags" in layout:
        assert document.warnings == [
            "tasks.json: top-level 'tags' holds no Task Master tag; it was left out"
        ]


def test_each_tag_is_a_feature_even_next_to_a_tags_object():
    data = {
        "tags": {"feature-x": {}},
        "feature-x": {"tasks": [_task(1)], "metadata": {"name": "Feature X"}},
        "feature-y": {"tasks": [_task(1, dependencies=[]), _task(2, dependencies=[1])]},
    }
    document = parse_tasks_json(json.dumps(data))
    assert [(f.key, f.name) for f in document.features] == [
        ("feature-x", "Feature X"),
        ("feature-y", "feature-y"),
    ]
    assert [t.key for t in document.tasks] == ["feature-x:1", "feature-y:1", "feature-y:2"]
    assert document.tasks[2].depends_on == ["feature-y:1"]


def test_waves_come_from_dependency_depth():
    data = {
        "tasks": [_task(1), _task(2, dependencies=[1]), _task(3, dependencies=[1, 2]), _task(4)]
    }
    waves = {t.key: t.wave for t in parse_tasks_json(json.dumps(data)).tasks}
    assert waves == {"1": 1, "2": 2, "3": 3, "4": 1}


def test_nesting_is_kept_in_the_database_the_listing_and_every_version(project, user):
    source = ImportSource("tasks.json", {"tasks.json": json.dumps({"tasks": NESTED})})
    first = plan_import(project=project, source=source, actor=user)
    assert project.tasks.get(key="1.2").parent == project.tasks.get(key="1")
    listed = [t.key for t in selectors.task_list(project=project)]
    assert listed == ["1", "1.1", "1.2", "2", "2.1", "10"]  # nested, not interleaved
    feature = project.features.get()
    shown = outline.task_group(project=project, kind=outline.GROUP_FEATURE, pk=feature.pk)
    assert [t.key for t in shown] == listed  # the plan page's order too
    analytics = selectors.plan_analytics(project=project)
    assert analytics.task_waves == {"1": 1, "1.1": 1, "1.2": 1, "2": 2, "2.1": 1, "10": 2}
    snapshot = first.version.snapshot
    assert {t["key"]: t.get("parent") for t in snapshot["tasks"]}["2.1"] == "2"

    project.tasks.filter(key="2.1").update(parent=None)
    current = selectors.plan_document(project=project).to_snapshot()
    changes = diff_snapshots(snapshot, current)
    assert [(c.key, [f.field for f in c.changes]) for c in changes.kinds["tasks"].changed] == [
        ("2.1", ["parent"])
    ]
    version_restore(version=DevPlanVersion.objects.get(number=1), actor=user)
    assert project.tasks.get(key="2.1").parent.key == "2"


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('{"tasks": [{"id": 1, "title": "a", "complexity": 1e999}]}', "tasks[0].complexity"),
        ('{"tasks": [{"id": 1, "title": "a", "estimate": -1e400}]}', "tasks[0].estimate"),
        ('{"tasks": [{"id": 1, "title": "a", "complexity": 11}]}', "complexity 11"),
        ('{"tasks": [{"id": 1, "title": "a", "complexity": "x"}]}', 'complexity "x"'),
        ('{"tasks": [{"id": 1, "title": "a", "n": ' + "9" * 5000 + "}]}", "not readable JSON"),
    ],
)
def test_numbers_out_of_range_are_a_400_naming_the_field(api, project, content, named):
    response = api.post(
        f"{BASE}/imports/",
        {"file": SimpleUploadedFile("tasks.json", content.encode()), "format": "taskmaster"},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert named in response.data["detail"]
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("number", "named"),
    [
        ("NaN", "tasks[0].x is a number out of range (nan)"),
        ("[1, -Infinity]", "tasks[0].x[1] is a number out of range (-inf)"),
        ('{"y": Infinity}', "tasks[0].x.y is a number out of range (inf)"),
        ("1" + "0" * 400 + ".5", "tasks[0].x is a number out of range (inf)"),
    ],
)
def test_a_number_that_is_not_finite_is_named_where_it_is(number, named):
    with pytest.raises(PlanImportError, match="out of range") as excinfo:
        parse_tasks_json('{"tasks": [{"id": 1, "title": "a", "x": ' + number + "}]}")
    assert named in str(excinfo.value)


def test_finite_numbers_are_kept_as_read():
    text = '{"tasks": [{"id": 1, "title": "a", "x": [1.5, -2e-3, 1e300, 7]}]}'
    assert parse_tasks_json(text).tasks[0].extra["x"] == [1.5, -2e-3, 1e300, 7]


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 500, 100_000])
def test_deep_nesting_is_a_400_naming_the_limit(api, project, levels):
    content = '{"tasks": [{"id": 1, "title": "a", "x": ' + "[" * levels + "]" * levels + "}]}"
    response = api.post(
        f"{BASE}/imports/",
        {"file": SimpleUploadedFile("tasks.json", content.encode()), "format": "taskmaster"},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert f"{MAX_DEPTH} levels" in response.data["detail"]


def test_deeply_nested_subtasks_are_a_400(api, project):
    task = '{"id": 1, "title": "leaf"}'
    for _ in range(500):  # too deep for json.dumps to write, so written by hand
        task = '{"id": 1, "title": "t", "subtasks": [' + task + "]}"
    response = api.post(
        f"{BASE}/imports/",
        {"file": SimpleUploadedFile("tasks.json", ('{"tasks": [' + task + "]}").encode())},
        format="multipart",
    )
    assert response.status_code == 400 and "levels" in response.data["detail"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)
task_like = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(-2, 12), st.text(max_size=4), st.none())},
    optional={
        "title": json_values,
        "status": st.sampled_from(["done", "pending", "in-progress", "nope"]) | json_values,
        "priority": st.sampled_from(["high", "critical", "low", ""]) | json_values,
        "dependencies": st.lists(st.integers(0, 12) | st.text(max_size=4), max_size=3)
        | json_values,
        "complexity": json_values,
        "subtasks": st.lists(
            st.fixed_dictionaries(
                {"id": st.integers(0, 4) | st.text(max_size=3)},
                optional={"dependencies": st.lists(st.integers(0, 4), max_size=2)},
            ),
            max_size=3,
        )
        | json_values,
    },
)
task_files = st.one_of(
    json_values,
    st.fixed_dictionaries({"tasks": st.lists(task_like, max_size=6)}),
    st.dictionaries(
        st.text(max_size=6),
        st.fixed_dictionaries({"tasks": st.lists(task_like, max_size=4)}) | json_values,
        max_size=3,
    ),
)


def _parses_or_explains(data: bytes) -> None:
    try:
        document = parse_source(ImportSource.from_bytes("tasks.json", data), "taskmaster")
    except PlanImportError as exc:
        assert str(exc)
    else:
        document.to_snapshot()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_give_a_plan_or_a_clear_error(data):
    _parses_or_explains(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task_files)
def test_random_json_gives_a_plan_or_a_clear_error(data):
    _parses_or_explains(json.dumps(data).encode())
