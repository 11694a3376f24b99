"""A first import's version is taken from the document it applied, and equals the one
read back from the rows, on SQLite and PostgreSQL; anything that might not read back as
it is makes the version read the rows."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planning import selectors
from planning.importers import ImportSource, PlanImportError, parse_source
from planning.importers.document import MEANING_FIELDS, PlanDocument, RequirementSpec, content_hash
from planning.models import DevPlanVersion, Project
from planning.services.imports import plan_import
from planning.services.versions import version_create
from planning.stored_plan import as_stored, json_as_stored

pytestmark = pytest.mark.django_db

TASKS = {
    "master": {
        "metadata": {"name": "Main"},
        "tasks": [
            {
                "id": 1,
                "title": "One",
                "description": "First\nline two",
                "details": "How",
                "testStrategy": "pytest",
                "status": "done",
                "priority": "critical",
                "complexity": 4,
                "tags": ["api"],
                "notes": {"nested": [1, "two", None, True, {"k": "v"}]},
                "subtasks": [
                    {"id": 1, "title": "1.1", "status": "in-progress"},
                    {"id": 2, "title": "1.2", "dependencies": [1]},
                ],
            },
            {"id": 2, "title": "Two", "dependencies": [1, "1.2"]},
            {"id": 3, "title": "Three", "dependencies": [2, 1], "status": "deferred"},
        ],
    },
    "ui": {"tasks": [{"id": 1, "title": "Screen", "dependencies": ["master:3"]}]},
}
PRD = "# Product\n\n## Area\n\n- [x] Build a\n- Build b (after Build a)\n- [ ] Build c [P0]\n"


def _read_back(project: Project) -> tuple[dict[str, Any], dict[str, Any]]:
    document = selectors.plan_document(project=project)
    return document.to_snapshot(), document.source_identities()


def _stored_version(project: Project) -> DevPlanVersion:
    return DevPlanVersion.objects.get(plan__project=project, number=1)


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [("tasks.json", json.dumps(TASKS), "taskmaster"), ("PRD.md", PRD, "markdown")],
)
def test_a_first_import_s_version_equals_the_rows_read_back(project, user, name, text, fmt):
    document = parse_source(ImportSource(name, {name: text}), fmt)
    assert as_stored(document) is not None  # the version is taken from the document

    outcome = plan_import(project=project, source=ImportSource(name, {name: text}), fmt=fmt)

    snapshot, identities = _read_back(project)
    version = _stored_version(project)
    assert outcome.version is not None
    assert outcome.version.snapshot == version.snapshot == snapshot
    assert version.source_identities == identities
    assert version.markdown == outcome.version.markdown and version.markdown.startswith("# ")
    # Unchanged, so importing it again makes no version.
    again = plan_import(project=project, source=ImportSource(name, {name: text}), fmt=fmt)
    assert again.version is None


def test_the_version_markdown_shows_the_status_each_row_starts_with(project):
    outcome = plan_import(project=project, source=ImportSource("PRD.md", {"PRD.md": PRD}))
    read = version_create(project=project, summary="again", only_if_changed=False)
    assert outcome.version is not None
    title = outcome.version.markdown.split("\n", 1)[0]
    assert outcome.version.markdown == read.markdown.replace(
        read.markdown.split("\n", 1)[0], title, 1
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"ratio": 1e20},  # PostgreSQL's jsonb writes it back as an integer
        {"ratio": -0.0},
        {"ratio": 0.5},
    ],
)
def test_a_float_in_a_task_makes_the_version_read_the_rows(project, extra):
    data = {"tasks": [{"id": 1, "title": "One", **extra}]}
    source = ImportSource("tasks.json", {"tasks.json": json.dumps(data)})
    assert as_stored(parse_source(source, "taskmaster")) is None

    plan_import(project=project, source=source)

    snapshot, _ = _read_back(project)
    assert _stored_version(project).snapshot == snapshot


def _task_document(**changes: Any) -> PlanDocument:
    document = parse_source(
        ImportSource("tasks.json", {"tasks.json": json.dumps({"tasks": [{"id": 1}, {"id": 2}]})}),
        "taskmaster",
    )
    document.tasks[1] = dataclasses.replace(document.tasks[1], **changes)
    return document


@pytest.mark.parametrize(
    "changes",
    [
        {"wave": True},
        {"complexity": True},
        {"done_criteria": 5},
        {"files": ("a.py",)},
        {"depends_on": ["1", "1"]},
        {"extra": {"t": (1, 2)}},
        {"extra": {1: "x"}},
        {"sub_feature": "P1"},
    ],
)
def test_a_value_stored_in_another_form_is_not_taken_from_the_document(changes):
    assert as_stored(_task_document()) is not None
    assert as_stored(_task_document(**changes)) is None


def test_requirements_make_the_version_read_the_rows():
    document = _task_document()
    document.requirements.append(RequirementSpec(code="R1", description="r"))
    assert as_stored(document) is None


def test_a_task_without_a_status_is_shown_with_the_one_its_row_starts_with():
    document = _task_document(status=None)
    stored = as_stored(document)
    assert stored is not None and stored.tasks[1].status == "pending"
    assert document.tasks[1].status is None  # the document itself is left as it was
    assert stored.tasks[0] is document.tasks[0]  # nothing else is copied


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ({"a": [1, "b", None, True, {"c": []}]}, True),
        ({"a": 1.0}, False),
        ({"a": [[{"b": float("inf")}]]}, False),
        ({"a": (1,)}, False),
        ({2: "b"}, False),
        ({"a": {1, 2}}, False),
    ],
)
def test_json_as_stored(value, stored):
    assert json_as_stored(value) is stored


def test_content_hash_is_the_one_stored_versions_carry():
    """The same bytes json.dumps gave, so hashes in stored snapshots still match."""
    task = {
        "name": "Ünïcode ✓",
        "description": "d",
        "files": ["b.py", "a.py"],
        "verify": "",
        "done_criteria": "",
        "type": "auto",
        "extra": {"z": 1, "a": {"y": [1.5, None], "b": "ß"}},
    }
    meaning = json.dumps([task[n] for n in MEANING_FIELDS], sort_keys=True, ensure_ascii=False)
    assert content_hash(task) == hashlib.blake2b(meaning.encode(), digest_size=12).hexdigest()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=8,
)
tasks_files = st.lists(
    st.fixed_dictionaries(
        {"title": st.text(min_size=1, max_size=12)},
        optional={
            "status": st.sampled_from(["done", "pending", "review", "cancelled"]),
            "priority": st.sampled_from(["high", "critical", "low"]),
            "details": st.text(max_size=12),
            "notes": json_values,
            "dependencies": st.lists(st.integers(1, 6), max_size=3),
            "subtasks": st.lists(
                st.fixed_dictionaries(
                    {"title": st.text(max_size=6)},
                    optional={"dependencies": st.lists(st.integers(1, 3), max_size=2)},
                ),
                max_size=3,
            ),
        },
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=40,
    deadline=None,
    # A new project per example: nothing of one example is seen by the next.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(tasks=tasks_files)
def test_any_first_import_s_version_equals_the_rows_read_back(user, tasks):
    for number, task in enumerate(tasks, start=1):
        task["id"] = number
        for sub_number, sub in enumerate(task.get("subtasks", []), start=1):
            sub["id"] = sub_number
    source = ImportSource("tasks.json", {"tasks.json": json.dumps({"tasks": tasks})})
    project = Project.objects.create(owner=user, name="p", slug=f"p-{Project.objects.count()}")
    try:
        outcome = plan_import(project=project, source=source)
    except PlanImportError:
        return  # a dependency cycle, or one on a task the file lacks
    snapshot, identities = _read_back(project)
    assert outcome.version is not None
    assert _stored_version(project).snapshot == outcome.version.snapshot == snapshot
    assert _stored_version(project).source_identities == identities
