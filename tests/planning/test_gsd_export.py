"""Exported GSD plans are ones GSD's own `gsd-tools.cjs` accepts, whatever format the plan
was imported from; multi-line fields survive the GSD and Markdown exports."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from planning.exporters import export_plan
from planning.exporters.gsd_shape import gsd_shaped
from planning.importers import ImportSource, parse_source
from planning.importers.document import PlanDocument
from tests.planning.gsd_tools import needs_gsd_tools, plan_files, project_for, run_json
from tests.planning.samples import GSD_SAMPLES

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gsd"
DEMO = Path(__file__).resolve().parents[2] / "planning" / "demo" / ".planning"

TASKS_JSON = {
    "master": {
        "tasks": [
            {"id": 1, "title": "Set up the repository", "details": "git init\nadd CI"},
            {
                "id": 2,
                "title": "Login",
                "dependencies": [1],
                "testStrategy": "pytest tests/test_login.py\nplaywright test login",
                "subtasks": [{"id": 1, "title": "Form"}, {"id": 2, "title": "Session"}],
            },
        ]
    }
}
PRD = """# Shop

## Accounts
- [x] Sign up (high)
- Login page (depends on Sign up)
  - remember me
- Password reset (after Login page)

## Checkout
1. Payment
2. Receipts (after the Regla 4 section)
"""
SOURCES = {
    "gsd-fixture-phased": lambda: ImportSource.from_path(FIXTURES / "phased" / ".planning"),
    "gsd-fixture-flat": lambda: ImportSource.from_path(FIXTURES / "flat" / ".planning"),
    "gsd-fixture-standalone": lambda: ImportSource.from_path(FIXTURES / "standalone"),
    "gsd-demo": lambda: ImportSource.from_path(DEMO),
    "taskmaster": lambda: ImportSource.from_bytes("tasks.json", json.dumps(TASKS_JSON).encode()),
    "markdown": lambda: ImportSource.from_bytes("PRD.md", PRD.encode()),
    **{
        f"gsd-sample-{p.name}": (lambda p=p: ImportSource.from_path(p))  # type: ignore[misc]
        for p in GSD_SAMPLES
    },
}


def _unzip(document: PlanDocument, into: Path) -> Path:
    exported = export_plan(document, fmt="gsd", title="Exported plan")
    zipfile.ZipFile(io.BytesIO(exported.content)).extractall(into)
    return into / ".planning"


@needs_gsd_tools
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_exported_plan_passes_gsd_tools(name, tmp_path):
    imported = parse_source(SOURCES[name]())
    planning = _unzip(imported, tmp_path / "export")
    # Task Master and Markdown plans are exported as numbered phases of plans.
    document = gsd_shaped(imported)
    assert len(document.tasks) == len(imported.tasks) and document.sub_features
    project = project_for(planning, tmp_path)
    plans = plan_files(planning)
    assert len(plans) == len(document.sub_features)
    for plan in plans:
        structure = run_json(project, "verify", "plan-structure", str(plan))
        assert structure["valid"] is True, (plan.name, structure["errors"])
        front = run_json(project, "frontmatter", "validate", str(plan), "--schema", "plan")
        assert front["valid"] is True, (plan.name, front["missing"])
        tasks = [
            t for t in document.tasks if t.sub_feature and plan.name.startswith(t.sub_feature + "-")
        ]
        assert structure["task_count"] == len(tasks)
        assert all(t["hasAction"] for t in structure["tasks"])
    roadmap = run_json(project, "roadmap", "analyze")
    assert roadmap["total_plans"] == len(document.sub_features)
    numbered = [f for f in document.features if not f.key.endswith("+")]
    assert [p["name"] for p in roadmap["phases"]] == [f.name for f in numbered]
    tentative = [f.key.rstrip("+") for f in document.features if f not in numbered]
    assert (roadmap["missing_phase_details"] or []) == tentative
    assert roadmap["total_plans"] == len(document.sub_features)


def test_multi_line_verify_and_action_survive_the_gsd_and_markdown_exports():
    document = parse_source(ImportSource.from_path(FIXTURES / "phased" / ".planning"))
    task = next(t for t in document.tasks if t.key == "01-01-T1")
    assert task.verify.count("\n") == 1 and task.description.count("\n") == 1
    exported = export_plan(document, fmt="gsd", title="x")
    again = parse_source(ImportSource.from_bytes("x.zip", exported.content))
    same = next(t for t in again.tasks if t.key == "01-01-T1")
    assert (same.verify, same.description) == (task.verify, task.description)
    markdown = export_plan(document, fmt="markdown", title="x").content.decode()
    for line in [*task.verify.split("\n"), *task.description.split("\n")]:
        assert f"    {line}" in markdown.split("\n")


def test_a_plan_with_a_checkpoint_is_exported_as_not_autonomous():
    document = parse_source(ImportSource.from_path(FIXTURES / "standalone"))
    plan = next(s for s in document.sub_features if s.key == "05-02")
    assert plan.autonomous is False  # it says true, but holds a decision checkpoint
    assert any("has checkpoint tasks" in w for w in document.warnings)
    exported = export_plan(document, fmt="gsd", title="x")
    text = zipfile.ZipFile(io.BytesIO(exported.content)).read(
        ".planning/phases/05-phase-05/05-02-PLAN.md"
    )
    assert b"autonomous: false" in text and b"<action>Ask the owner.</action>" in text
