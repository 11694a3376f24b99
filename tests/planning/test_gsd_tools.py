"""Crewboard reads GSD plan sets as GSD's own `gsd-tools.cjs` does: the sample sets other
teams wrote (read in place) and small synthetic ones under fixtures/gsd/."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest

from planning.analytics import PlanRow, compute_waves
from planning.importers import ImportSource, detect_format, parse_source
from planning.importers.document import PlanDocument
from planning.importers.gsd.names import canonical_plan_id, number_key, plan_key
from planning.importers.titles import clean_task_name
from planning.services.imports import plan_import
from tests.planning.gsd_tools import needs_gsd_tools, plan_files, project_for, run_json
from tests.planning.samples import GSD_SAMPLES

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gsd"
SYNTHETIC = [
    FIXTURES / "phased" / ".planning",
    FIXTURES / "flat" / ".planning",
    FIXTURES / "standalone",
]
PLAN_SETS = [
    pytest.param(p, id=f"fixture-{p.parent.name if p.name == '.planning' else p.name}")
    for p in SYNTHETIC
] + [pytest.param(p, id=f"sample-{p.name}") for p in GSD_SAMPLES]
CHECKPOINT_ERROR = "Has checkpoint tasks but autonomous is not false"


def _import(planning: Path) -> PlanDocument:
    return parse_source(ImportSource.from_path(planning))


def _sub_of(document: PlanDocument, planning: Path, plan: Path) -> str:
    relative = plan.relative_to(planning).as_posix()
    return next(s.key for s in document.sub_features if s.origin and s.origin.file == relative)


def _is_feature_plan(plan: Path) -> bool:
    # A TDD plan's <feature> holds its one test-first task; gsd-tools counts no <task>.
    return "<task" not in plan.read_text(encoding="utf-8") and "<feature>" in plan.read_text(
        encoding="utf-8"
    )


@pytest.mark.parametrize("planning", PLAN_SETS)
def test_every_plan_set_is_detected_as_gsd(planning):
    assert detect_format(ImportSource.from_path(planning)) == "gsd"


@needs_gsd_tools
@pytest.mark.parametrize("planning", PLAN_SETS)
def test_tasks_and_checkpoints_match_verify_plan_structure(planning, tmp_path):
    document = _import(planning)
    project = project_for(planning, tmp_path)
    plans = plan_files(planning)
    assert len(plans) == len(
        [s for s in document.sub_features if s.origin and "PLAN" in s.origin.file.upper()]
    )
    for plan in plans:
        report = run_json(project, "verify", "plan-structure", str(plan))
        sub_key = _sub_of(document, planning, plan)
        sub = next(s for s in document.sub_features if s.key == sub_key)
        tasks = sorted(
            (t for t in document.tasks if t.sub_feature == sub_key), key=lambda t: t.position
        )
        if _is_feature_plan(plan):
            assert report["task_count"] == 0 and [t.type for t in tasks] == ["tdd"]
            continue
        assert report["task_count"] == len(tasks), plan
        their_names = [
            clean_task_name(re.sub(r"^Task\s+\d+\s*:\s*", "", t["name"])) for t in report["tasks"]
        ]
        for theirs, task in zip(their_names, tasks, strict=True):
            if task.type == "checkpoint:decision" and theirs != task.name:
                # A decision without a <name> of its own: the tool reads its first
                # option's; Crewboard names the task by its <decision>.
                assert theirs == task.extra["options"][0]["name"], plan
            else:
                assert theirs == task.name, plan
        # The tool finds checkpoints where Crewboard does; such a plan is never autonomous,
        # and one that claims to be (the tool's error) is reported.
        has_checkpoint = any(t.type.startswith("checkpoint:") for t in tasks)
        assert not (has_checkpoint and sub.autonomous), plan
        if CHECKPOINT_ERROR in report["errors"]:
            assert has_checkpoint, plan
            assert any(
                w.startswith(sub.origin.file) and "has checkpoint tasks" in w
                for w in document.warnings
            ), plan


@needs_gsd_tools
@pytest.mark.parametrize("planning", PLAN_SETS)
def test_waves_dependencies_and_counts_match_phase_plan_index(planning, tmp_path):
    document = _import(planning)
    subs = {s.key: s for s in document.sub_features}
    waves = compute_waves(
        PlanRow(
            key=s.key,
            phase=s.feature,
            declared_wave=s.wave,
            depends_on=tuple(s.depends_on),
            files_modified=tuple(s.files_modified),
        )
        for s in document.sub_features
    ).waves
    project = project_for(planning, tmp_path)
    phase_dirs = sorted(p for p in (planning / "phases").glob("*") if p.is_dir())
    if not phase_dirs:
        pytest.skip("no phases/ folder: gsd-tools indexes plans by phase folder only")
    for phase_dir in phase_dirs:
        number = phase_dir.name.split("-", 1)[0]
        index = run_json(project, "phase-plan-index", number)
        assert index["plans"], phase_dir
        for plan in index["plans"]:
            key = plan_key(*(canonical_plan_id(plan["id"]) or (number, plan["id"])))
            sub = subs[key]
            tasks = [t for t in document.tasks if t.sub_feature == key]
            if not _is_feature_plan(phase_dir / f"{plan['id']}-PLAN.md"):
                assert plan["task_count"] == len(tasks), key
            checkpoint = any(t.type.startswith("checkpoint:") for t in tasks)
            assert plan["autonomous"] == sub.autonomous or (checkpoint and not sub.autonomous), key
            assert plan["wave"] == waves[key], key
            assert plan["files_modified"] == sub.files_modified, key
            kept = [
                *sub.depends_on,
                *sub.extra.get("external_depends_on", []),
                *sub.extra.get("dependency_notes", []),
            ]
            assert len(plan["depends_on"]) == len(kept), key
            for ref in plan["depends_on"]:
                found = canonical_plan_id(ref + "-PLAN.md")
                assert (found and plan_key(*found) in sub.depends_on) or ref in kept, (key, ref)
        assert index["has_checkpoints"] == any(
            not subs[plan_key(*(canonical_plan_id(p["id"]) or (number, p["id"])))].autonomous
            for p in index["plans"]
        )


@needs_gsd_tools
@pytest.mark.parametrize("planning", PLAN_SETS)
def test_phases_and_their_state_match_roadmap_analyze(planning, tmp_path):
    if not (planning / "ROADMAP.md").exists():
        pytest.skip("no ROADMAP.md in this plan set")
    document = _import(planning)
    report = run_json(project_for(planning, tmp_path), "roadmap", "analyze")
    features = {f.key: f for f in document.features}
    assert report["phases"]
    for phase in report["phases"]:
        feature = features[number_key(phase["number"])]
        assert feature.name == phase["name"]
        assert feature.description == (phase["goal"] or "")
        subs = [s for s in document.sub_features if s.feature == feature.key]
        from_files = [s for s in subs if s.origin and "phases/" in s.origin.file]
        assert len(from_files) == phase["plan_count"], phase["number"]
        tasks = [t for t in document.tasks if t.feature == feature.key]
        done = feature.status == "done" or (bool(tasks) and all(t.status == "done" for t in tasks))
        assert done == (phase["disk_status"] == "complete"), phase["number"]
    # Every phase gsd-tools counts, and the tentative ones it leaves out, are features.
    assert {number_key(p["number"]) for p in report["phases"]} <= set(features)
    for number in report.get("missing_phase_details") or []:
        assert any(k.rstrip("+") == number_key(number) for k in features)


def test_roadmap_state_becomes_done_features_and_warnings():
    document = _import(SYNTHETIC[0])
    features = {f.key: f for f in document.features}
    subs = {s.key: s for s in document.sub_features}
    # Phase 1 is [x]: its plan's tasks are done, and 01-02 (listed [x], no file) is a
    # done sub-feature of its own.
    assert all(t.status == "done" for t in document.tasks if t.feature == "01")
    assert subs["01-02"].status == "done" and subs["01-02"].name.startswith("Seed data")
    assert features["03"].name == "Sharing" and features["04+"].name == "Later"
    assert features["02.1"].name == "Hotfix"  # "(INSERTED)" is GSD's mark, not the name
    warnings = "\n".join(document.warnings)
    assert "Phase 03 (Sharing) has no plans yet (its plans are TBD)" in warnings
    assert "Phase 04+ (Later) is tentative" in warnings
    assert "'01-09', which is not a plan in this import" in warnings
    assert "'after Phase 16 M2M (2026-04-25)' names no plan; kept as a note" in warnings


def test_a_flat_plan_is_gsd_with_its_three_tasks():
    plan = FIXTURES / "flat" / ".planning" / "07-03-REAL-OPERATORS-PLAN.md"
    source = ImportSource.from_bytes(plan.name, plan.read_bytes())
    assert detect_format(source) == "gsd"
    for fmt in ("auto", "gsd"):
        document = parse_source(source, fmt)
        assert [t.key for t in document.tasks] == ["07-03-T1", "07-03-T2", "07-03-T3"]
        assert document.tasks[0].description.count("\n") == 3  # its list stays in the action
    # The same file under another name is still a plan, by its shape.
    renamed = ImportSource.from_bytes("operators.md", plan.read_bytes())
    assert detect_format(renamed) == "gsd"
    assert len(parse_source(renamed).tasks) == 3


def test_a_standalone_plan_folder_and_a_tdd_feature_plan():
    document = _import(SYNTHETIC[2])
    assert [s.key for s in sorted(document.sub_features, key=lambda s: s.key)] == ["05-02", "05-03"]
    feature_task = next(t for t in document.tasks if t.sub_feature == "05-03")
    assert feature_task.type == "tdd" and feature_task.name == "ISO dates in exports"
    assert "isoformat()" in feature_task.description
    assert feature_task.extra["behavior"].startswith("date(2026, 4, 25)")
    assert next(s for s in document.sub_features if s.key == "05-03").depends_on == ["05-02"]


def test_a_plan_that_names_no_phase_or_number_is_imported_with_a_warning():
    text = (
        "<objective>Tidy up.</objective>\n<tasks>\n"
        '<task type="auto"><name>Tidy</name><action>a</action></task>\n</tasks>\n'
    )
    document = parse_source(ImportSource(name="x", files={"tidy/plan-notes.md": text}), "gsd")
    assert [s.key for s in document.sub_features] == ["01-01"]
    assert any("names no phase" in w for w in document.warnings)
    assert any("names no plan number" in w for w in document.warnings)
    assert PurePosixPath(document.sub_features[0].origin.file).name == "plan-notes.md"


@pytest.mark.django_db
def test_done_phases_and_plans_of_the_roadmap_are_done_in_the_project(project):
    plan_import(project=project, source=ImportSource.from_path(SYNTHETIC[0]))
    features = dict(project.features.values_list("key", "status"))
    subs = dict(project.sub_features.values_list("key", "status"))
    assert features["01"] == "done" and subs["01-01"] == "done"
    assert subs["01-02"] == "done"  # listed [x] without a file: no tasks, still done
    assert features["03"] == "backlog" and features["04+"] == "backlog"
    assert subs["02-01"] == "planned"
