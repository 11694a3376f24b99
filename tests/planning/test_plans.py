"""Importing into a project, versions, diff, restore, exports and round trips."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planning import selectors
from planning.diff import diff_snapshots
from planning.exporters import export_plan
from planning.importers import ImportSource, parse_source
from planning.importers.document import (
    FeatureSpec,
    PlanDocument,
    PlanImportError,
    SubFeatureSpec,
    TaskSpec,
)
from planning.models import DevPlanVersion, SubFeatureDependency, Task, TaskDependency
from planning.services.imports import plan_import
from planning.services.plans import plan_references_checked
from planning.services.versions import version_create, version_restore
from tests.factories import ProjectFactory, TaskFactory
from tests.planning.samples import SAMPLES as SHARED_SAMPLES

DEMO = Path(__file__).resolve().parents[2] / "planning" / "demo" / ".planning"
SAMPLES = SHARED_SAMPLES / "gsd"
SAMPLE_DIRS = sorted(SAMPLES.iterdir()) if SAMPLES.is_dir() else []

pytestmark = pytest.mark.django_db


def _db_state(project):
    return {
        "tasks": sorted(project.tasks.values_list("key", "name", "status", "wave", "type")),
        "edges": sorted(
            TaskDependency.objects.filter(task__project=project).values_list(
                "task__key", "depends_on__key"
            )
        ),
        "plan_edges": SubFeatureDependency.objects.filter(sub_feature__project=project).count(),
        "features": sorted(project.features.values_list("key", "name")),
        "versions": DevPlanVersion.objects.filter(plan__project=project).count(),
    }


def _import_demo(project):
    return plan_import(project=project, source=ImportSource.from_path(DEMO))


def test_import_writes_the_whole_tree_and_a_version(project):
    outcome = _import_demo(project)
    assert outcome.version.number == 1
    assert "Imported .planning" in outcome.version.change_summary
    assert project.features.count() == 4
    assert project.sub_features.count() == 6
    assert project.tasks.count() == 10
    assert project.requirements.count() == 6
    assert set(project.tasks.filter(status="done").values_list("key", flat=True)) == {
        "01-01-T1",
        "01-01-T2",
    }
    sub = project.sub_features.get(key="01-02")
    assert list(sub.depends_on.values_list("key", flat=True)) == ["01-01"]
    assert list(sub.requirements.values_list("code", flat=True)) == ["API-01"]
    assert project.tasks.get(key="01-02-T1").wave == 2
    assert selectors.task_next_ready(project=project).key == "01-02-T1"


def test_reimport_is_idempotent(project):
    _import_demo(project)
    before = _db_state(project)
    outcome = _import_demo(project)
    assert outcome.version is None
    assert not outcome.result.changed
    assert _db_state(project) == before


def test_reimport_updates_by_key_and_keeps_execution_state(project, tmp_path):
    _import_demo(project)
    Task.objects.filter(project=project, key="03-01-T1").update(status="in_progress")
    changed = tmp_path / "planning"
    for file in DEMO.rglob("*"):
        if file.is_file():
            target = changed / file.relative_to(DEMO)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(file.read_text().replace("Step loop", "Durable step loop"))
    outcome = plan_import(project=project, source=ImportSource.from_path(changed))
    assert outcome.result.updated["tasks"] == 1 and not outcome.result.created
    task = project.tasks.get(key="03-01-T1")
    assert (task.name, task.status) == ("Durable step loop", "in_progress")
    assert outcome.version.number == 2
    assert project.tasks.count() == 10


def _zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


PLAN = """---
phase: 01
plan: {plan}
depends_on: {deps}
---
<objective>Plan {plan}</objective>
<tasks><task type="auto"><name>Task 1: t</name><action>a</action></task></tasks>
"""


@pytest.mark.parametrize(
    "name,data",
    [
        (
            "cyclic.zip",
            _zip(
                {
                    "phases/01-a/01-01-PLAN.md": PLAN.format(plan="01", deps='["01-02"]'),
                    "phases/01-a/01-02-PLAN.md": PLAN.format(plan="02", deps='["01-01"]'),
                }
            ),
        ),
        ("01-01-PLAN.md", b"---\nphase: 01\nplan: [\n---\n"),
        ("tasks.json", json.dumps({"tasks": [{"id": 1, "dependencies": [9]}]}).encode()),
    ],
)
def test_bad_input_is_rejected_and_leaves_the_database_unchanged(project, name, data):
    _import_demo(project)
    before = _db_state(project)
    with pytest.raises(PlanImportError):
        plan_import(project=project, source=ImportSource.from_bytes(name, data))
    assert _db_state(project) == before


def test_import_replaces_the_dependencies_of_the_tasks_it_lists(project):
    def tasks_json(dependencies):
        tasks = [
            {"id": 1, "dependencies": dependencies[1]},
            {"id": 2, "dependencies": dependencies[2]},
        ]
        return ImportSource.from_bytes("tasks.json", json.dumps({"tasks": tasks}).encode())

    plan_import(project=project, source=tasks_json({1: [2], 2: []}))
    plan_import(project=project, source=tasks_json({1: [], 2: [1]}))
    assert list(TaskDependency.objects.values_list("task__key", "depends_on__key")) == [("2", "1")]


# Versions, diff and restore -------------------------------------------------------------


def test_version_snapshot_excludes_execution_state(project):
    _import_demo(project)
    Task.objects.filter(project=project).update(status="in_progress", qa_iterations=1)
    assert version_create(project=project, summary="no plan change") is None


def test_diff_reports_added_removed_changed_and_edges(project):
    _import_demo(project)
    v1 = DevPlanVersion.objects.get(plan__project=project)
    task = project.tasks.get(key="03-01-T1")
    task.name, task.priority = "Renamed", "high"
    task.save()
    project.tasks.get(key="02.1-01-T1").delete()
    TaskFactory(project=project, key="NEW-1", name="Brand new")
    TaskDependency.objects.create(task=task, depends_on=project.tasks.get(key="02-02-T2"))
    v2 = version_create(project=project, summary="edits")
    diff = diff_snapshots(v1.snapshot, v2.snapshot)
    tasks = diff.kinds["tasks"]
    assert [t["key"] for t in tasks.added] == ["NEW-1"]
    assert [t["key"] for t in tasks.removed] == ["02.1-01-T1"]
    [change] = tasks.changed
    assert change.key == "03-01-T1"
    assert {(c.field, c.before, c.after) for c in change.changes} == {
        ("name", "Step loop", "Renamed"),
        ("priority", "medium", "high"),
    }
    assert diff.edges_added == [("03-01-T1", "02-02-T2")]
    assert "1 task added" in diff.summary()


def test_restore_makes_the_plan_equal_to_the_version_and_records_it(project):
    _import_demo(project)
    v1 = DevPlanVersion.objects.get(plan__project=project)
    Task.objects.filter(project=project, key="01-01-T1").update(name="changed")
    project.tasks.get(key="03-01-T1").delete()
    TaskFactory(project=project, key="EXTRA")
    version_create(project=project, summary="drift")
    result, restored = version_restore(version=v1)
    assert restored.number == 3
    assert restored.change_summary == "Restored version 1; 1 changed task reset to pending"
    assert restored.snapshot == v1.snapshot
    assert selectors.plan_document(project=project).to_snapshot() == v1.snapshot
    assert result.removed["tasks"] == 1 and result.created["tasks"] == 1
    # Its meaning changed since v1, so the work done on "changed" does not count for it.
    assert result.reset == ["01-01-T1"]
    assert project.tasks.get(key="01-01-T1").status == "pending"
    assert project.tasks.get(key="01-01-T2").status == "done"  # the same task: kept


def test_version_markdown_and_immutability(project):
    outcome = _import_demo(project)
    assert "## 01 · Foundation" in outcome.version.markdown
    assert "**01-01-T1** Write the planning models" in outcome.version.markdown


# Exports and round trips ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["markdown", "json", "gsd", "taskmaster"])
def test_every_export_format(project, fmt):
    _import_demo(project)
    document = selectors.plan_document(project=project)
    exported = export_plan(document, fmt=fmt, title=project.name)
    assert exported.content
    if fmt == "markdown":
        assert exported.content.decode().startswith(f"# {project.name}")
    elif fmt == "json":
        assert json.loads(exported.content) == document.to_snapshot()
    elif fmt == "gsd":
        names = zipfile.ZipFile(io.BytesIO(exported.content)).namelist()
        assert ".planning/ROADMAP.md" in names
        assert ".planning/phases/01-foundation/01-01-PLAN.md" in names
        assert ".planning/phases/01-foundation/01-01-SUMMARY.md" in names
        assert ".planning/phases/02.1-importer-hardening/02.1-01-PLAN.md" in names
    else:
        data = json.loads(exported.content)
        assert set(data) == {"master"}
        features = data["master"]["tasks"][0]["metadata"]["crewboard"]["plan"]["features"]
        assert [f["key"] for f in features] == ["01", "02", "02.1", "03"]


def _round_trip_gsd(document: PlanDocument) -> dict:
    exported = export_plan(document, fmt="gsd", title="Round trip")
    return parse_source(ImportSource.from_bytes("x.zip", exported.content)).to_snapshot()


@pytest.mark.parametrize("folder", [DEMO, *SAMPLE_DIRS], ids=lambda p: p.name)
def test_gsd_round_trip_through_the_database(folder):
    project = ProjectFactory()
    first = plan_import(project=project, source=ImportSource.from_path(folder))
    exported = export_plan(selectors.plan_document(project=project), fmt="gsd", title="x")
    second_project = ProjectFactory()
    plan_import(project=second_project, source=ImportSource.from_bytes("x.zip", exported.content))
    assert selectors.plan_document(project=second_project).to_snapshot() == first.version.snapshot


def test_taskmaster_round_trip_through_the_database():
    source = json.dumps(
        {
            "master": {
                "tasks": [
                    {"id": 1, "title": "A", "status": "done", "priority": "high", "complexity": 4},
                    {
                        "id": 2,
                        "title": "B",
                        "dependencies": [1],
                        "details": "d",
                        "testStrategy": "t",
                        "subtasks": [
                            {"id": 1, "title": "B1"},
                            {"id": 2, "title": "B2", "dependencies": [1]},
                        ],
                    },
                ],
                "metadata": {"name": "Main"},
            },
            "ui": {"tasks": [{"id": 1, "title": "U", "dependencies": ["master:2"], "tags": ["x"]}]},
        }
    )
    project = ProjectFactory()
    first = plan_import(
        project=project, source=ImportSource.from_bytes("tasks.json", source.encode())
    )
    exported = export_plan(selectors.plan_document(project=project), fmt="taskmaster", title="x")
    second_project = ProjectFactory()
    plan_import(
        project=second_project, source=ImportSource.from_bytes("tasks.json", exported.content)
    )
    assert selectors.plan_document(project=second_project).to_snapshot() == first.version.snapshot
    statuses = dict(second_project.tasks.values_list("key", "status"))
    assert statuses["1"] == "done" and statuses["ui:1"] == "pending"


# Hypothesis: generated plans survive both round trips ------------------------------------

words = st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=20).map(str.strip).filter(bool)
paths = st.lists(
    st.from_regex(r"[a-z]{1,8}/[a-z]{1,8}\.py", fullmatch=True), max_size=3, unique=True
)


@st.composite
def gsd_plans(draw) -> PlanDocument:
    phase_count = draw(st.integers(1, 3))
    document = PlanDocument()
    plan_keys: list[str] = []
    for p in range(1, phase_count + 1):
        phase = f"{p:02d}"
        document.features.append(
            FeatureSpec(key=phase, name=draw(words).capitalize(), position=p - 1)
        )
        for n in range(1, draw(st.integers(1, 3)) + 1):
            key = f"{phase}-{n:02d}"
            deps = (
                draw(st.lists(st.sampled_from(plan_keys), unique=True, max_size=2))
                if plan_keys
                else []
            )
            sub = SubFeatureSpec(
                key=key,
                feature=phase,
                name=draw(words),
                objective=draw(words),
                wave=draw(st.integers(1, 4)),
                autonomous=draw(st.booleans()),
                files_modified=draw(paths),
                must_haves={"truths": draw(st.lists(words, max_size=2))},
                depends_on=deps,
            )
            document.sub_features.append(sub)
            plan_keys.append(key)
            for t in range(1, draw(st.integers(1, 3)) + 1):
                document.tasks.append(
                    TaskSpec(
                        key=f"{key}-T{t}",
                        name=draw(words),
                        feature=phase,
                        sub_feature=key,
                        description=draw(words),
                        files=draw(paths),
                        verify=draw(st.sampled_from(["", "make test"])),
                        done_criteria=draw(words),
                        type=draw(st.sampled_from(["auto", "tdd", "checkpoint:human-verify"])),
                        wave=sub.wave,
                        position=t,
                        depends_on=[f"{key}-T{t - 1}"] if t > 1 else [],
                    )
                )
            # A plan with a checkpoint waits for a person: GSD calls it not autonomous.
            if any(
                t.type.startswith("checkpoint:") for t in document.tasks if t.sub_feature == key
            ):
                sub.autonomous = False
    return document


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gsd_plans())
def test_generated_plans_survive_the_gsd_round_trip(document):
    document.validate()
    assert _round_trip_gsd(document) == document.to_snapshot()


@st.composite
def taskmaster_plans(draw) -> PlanDocument:
    document = PlanDocument()
    for position, tag in enumerate(
        draw(st.lists(st.sampled_from(["master", "ui", "api"]), min_size=1, unique=True))
    ):
        document.features.append(FeatureSpec(key=tag, name=draw(words), position=position))
        prefix = "" if tag == "master" else f"{tag}:"
        keys: list[str] = []
        for i in range(1, draw(st.integers(1, 4)) + 1):
            key = f"{prefix}{i}"
            document.tasks.append(
                TaskSpec(
                    key=key,
                    name=draw(words),
                    feature=tag,
                    description=draw(st.sampled_from(["", "desc"])),
                    verify=draw(st.sampled_from(["", "pytest"])),
                    priority=draw(st.sampled_from(["high", "medium", "low"])),
                    complexity=draw(st.none() | st.integers(1, 10)),
                    position=i - 1,
                    depends_on=draw(st.lists(st.sampled_from(keys), unique=True, max_size=2))
                    if keys
                    else [],
                )
            )
            keys.append(key)
    return document


@settings(max_examples=40, deadline=None)
@given(taskmaster_plans())
def test_generated_plans_survive_the_taskmaster_round_trip(document):
    document.validate()
    exported = export_plan(document, fmt="taskmaster", title="x")
    again = parse_source(ImportSource.from_bytes("tasks.json", exported.content)).to_snapshot()
    assert again == document.to_snapshot()


def test_restore_keeps_a_task_moved_out_of_a_removed_feature(project):
    """Pruning deletes children first, so a task re-parented into a surviving feature is
    kept (same row, same status) instead of going with its old feature's cascade."""
    from planning.importers.document import FeatureSpec, TaskSpec
    from planning.services.plans import plan_apply

    before = PlanDocument(
        features=[FeatureSpec(key="OLD", name="old"), FeatureSpec(key="NEW", name="new")],
        tasks=[TaskSpec(key="T", name="t", feature="OLD")],
    )
    plan_apply(project=project, document=before)
    task = project.tasks.get(key="T")
    Task.objects.filter(pk=task.pk).update(status="done")
    after = PlanDocument(
        features=[FeatureSpec(key="NEW", name="new")],
        tasks=[TaskSpec(key="T", name="t", feature="NEW")],
    )
    result = plan_apply(project=project, document=after, prune=True)
    moved = project.tasks.get(key="T")
    assert (moved.pk, moved.status, moved.feature.key) == (task.pk, "done", "NEW")
    assert list(project.features.values_list("key", flat=True)) == ["NEW"]
    assert result.removed["features"] == 1 and "tasks" not in result.removed


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL defers reference checks to the commit; SQLite checks them there only",
)
def test_a_broken_reference_is_a_plan_import_error_before_the_commit(project):
    with pytest.raises(PlanImportError, match="breaks a database rule"), transaction.atomic():
        Task.objects.create(project=project, key="T1", name="Orphan", feature_id=2**40)
        plan_references_checked()
    assert not Task.objects.filter(project=project).exists()
