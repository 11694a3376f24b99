"""Parsing plan files into documents (no database writes here)."""

import codecs
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from planning.importers import ImportSource, detect_format, parse_source
from planning.importers.document import PlanImportError
from planning.importers.gsd import parse_roadmap
from planning.importers.markdown import parse_markdown
from planning.importers.taskmaster import parse_tasks_json
from planning.importers.text import decode, mask_code_fences, repair_mojibake
from tests.planning.samples import SAMPLES, needs_samples

DEMO = Path(__file__).resolve().parents[2] / "planning" / "demo" / ".planning"


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


PLAN = """---
phase: {phase}
plan: {plan}
wave: 1
depends_on: {deps}
---
<objective>Plan {phase}-{plan}</objective>
<tasks>
<task type="auto"><name>Task 1: Do it</name><action>work</action></task>
</tasks>
"""


# GSD samples from other teams --------------------------------------------------------


@needs_samples
@pytest.mark.parametrize(
    "project,plan_key,files_modified,must_haves,requirements,external",
    [
        ("jarvis", "01-01", 20, ["truths", "artifacts", "key_links"], 5, []),
        ("jira-analyst", "02-01", 2, [], 0, []),
        ("nexus", "01-08", 5, [], 0, ["01-04"]),
    ],
)
def test_samples_import_with_all_tasks_and_fields(
    project, plan_key, files_modified, must_haves, requirements, external
):
    document = parse_source(ImportSource.from_path(SAMPLES / "gsd" / project))
    [sub] = document.sub_features
    assert sub.key == plan_key
    assert sub.wave == 1
    assert len(sub.files_modified) == files_modified
    assert sorted(sub.must_haves) == sorted(must_haves)
    assert len(sub.requirements) == requirements
    assert sub.extra.get("external_depends_on", []) == external
    assert sub.objective and sub.extra["verification"] and sub.extra["success_criteria"]
    assert sub.extra["output"]
    assert len(document.tasks) == 3
    for number, task in enumerate(document.tasks, start=1):
        assert task.key == f"{plan_key}-T{number}"
        assert task.type == "auto"
        assert task.name and not task.name.startswith("Task ")
        assert task.files and task.description and task.verify and task.done_criteria
        assert task.depends_on == ([f"{plan_key}-T{number - 1}"] if number > 1 else [])
    assert [f.key for f in document.features] == [plan_key.split("-")[0]]


@needs_samples
def test_jarvis_must_haves_keep_their_structure():
    document = parse_source(ImportSource.from_path(SAMPLES / "gsd" / "jarvis"))
    must_haves = document.sub_features[0].must_haves
    assert len(must_haves["truths"]) == 6
    assert must_haves["artifacts"][0]["path"] == "packages/db/src/schema/tool-calls.ts"
    assert must_haves["key_links"][0]["via"] == "drizzle(pool, { schema })"
    assert [r.code for r in document.requirements] == [
        "DATA-01",
        "DATA-02",
        "DATA-05",
        "LOG-04",
        "LOG-05",
    ]


@needs_samples
def test_nexus_code_in_actions_is_kept_verbatim():
    document = parse_source(ImportSource.from_path(SAMPLES / "gsd" / "nexus"))
    action = document.tasks[0].description
    assert "```typescript" in action
    assert "$type<'genesis' | 'evolution'>()" in action
    assert document.warnings and "01-04" in document.warnings[0]


@needs_samples
def test_sample_document_with_wrong_encoding_is_repaired():
    path = SAMPLES / "docs" / "dev-planning-phase1.md"
    text = decode(path.read_bytes(), name=path.name)
    assert "â€" not in text and "ðŸ" not in text
    assert "2025-09-30 — Phase 1" in text
    assert "## ✅ Delivered in Phase 1" in text


# Crewboard's own demo folder: the GSD features a real .planning/ uses ----------------


@pytest.fixture(scope="module")
def demo():
    return parse_source(ImportSource.from_path(DEMO))


def test_demo_phases_come_from_the_roadmap_including_decimal_phases(demo):
    assert [(f.key, f.name) for f in demo.features] == [
        ("01", "Foundation"),
        ("02", "Planning"),
        ("02.1", "Importer hardening"),
        ("03", "Agents"),
    ]
    assert demo.features[0].description.startswith("Every later capability")


def test_demo_plans_keep_front_matter_and_sections(demo):
    subs = {s.key: s for s in demo.sub_features}
    assert subs["01-02"].files_modified == [
        "planning/api/views.py",
        "templates/planning/project_detail.html",
    ]  # spelled files-modified in the file
    assert subs["01-02"].autonomous is False
    assert subs["01-02"].extra["user_setup"] == "none"  # unknown keys are kept
    assert subs["01-01"].extra["context_refs"] == [".planning/PROJECT.md", ".planning/ROADMAP.md"]
    assert subs["02.1-01"].depends_on == ["02-01"]  # a slugged reference
    assert subs["02-02"].depends_on == ["02-01"]


def test_demo_task_types_and_fields(demo):
    tasks = {t.key: t for t in demo.tasks}
    assert tasks["01-01-T2"].type == "tdd"
    assert tasks["01-01-T2"].extra["behavior"].startswith("UPDATE and DELETE")
    verify = tasks["01-02-T2"]
    assert verify.type == "checkpoint:human-verify"
    assert verify.name.startswith("The project page")
    assert "make run" in verify.extra["how-to-verify"]
    decision = tasks["02-01-T1"]
    assert decision.type == "checkpoint:decision"
    assert decision.name == "How should Task Master tags map into Crewboard?"
    assert [o["id"] for o in decision.extra["options"]] == ["feature", "plan"]
    assert decision.extra["options"][0]["pros"] == "Keeps one plan per project"
    gsd = tasks["02-01-T2"]
    assert gsd.extra["read_first"] == ["planning/importers/document.py"]
    assert gsd.extra["acceptance_criteria"] == "Every sample plan imports with all its tasks"
    assert tasks["02.1-01-T1"].type == "auto"  # no type attribute


def test_code_fences_hide_tags_inside_them(demo):
    assert sum(1 for t in demo.tasks if t.sub_feature == "01-01") == 2
    assert "A `<task>` tag inside a code fence" in demo.tasks[0].description
    masked = mask_code_fences("a\n```\n<task>\n```\nb")
    assert "<task>" not in masked and masked.count("\n") == 4


def test_legacy_heading_style_tasks(demo):
    tasks = [t for t in demo.tasks if t.sub_feature == "02-02"]
    assert [t.name for t in tasks] == ["Snapshot and diff", "Restore"]
    assert tasks[0].files == ["planning/services/versions.py", "planning/diff.py"]
    assert tasks[0].verify == "pytest tests/planning/test_versions.py"
    assert tasks[1].depends_on == ["02-02-T1"]


def test_summary_marks_its_plans_tasks_done(demo):
    assert {t.key for t in demo.tasks if t.status == "done"} == {"01-01-T1", "01-01-T2"}


def test_requirements_with_categories_and_links(demo):
    reqs = {r.code: r for r in demo.requirements}
    assert set(reqs) == {"DATA-01", "DATA-02", "API-01", "PLAN-01", "PLAN-02", "AGENT-01"}
    assert reqs["DATA-01"].category == "Data" and reqs["DATA-01"].validated
    assert reqs["PLAN-01"].features == ["02"] and not reqs["PLAN-01"].validated


def test_roadmap_heading_and_list_styles():
    phases = parse_roadmap(
        "## Phases\n- [ ] **Phase 1: Core** - the core\n### Phase 02.1: Patch\n**Goal**: fix\n"
    )
    assert {k: (p.name, p.goal) for k, p in phases.items()} == {
        "01": ("Core", ""),
        "02.1": ("Patch", "fix"),
    }


# GSD errors ----------------------------------------------------------------------------


def test_broken_front_matter_names_file_and_line():
    source = ImportSource.from_bytes(
        "01-01-PLAN.md", b"---\nphase: 01\nplan: 01\nwave: [1\n---\n<tasks></tasks>\n"
    )
    with pytest.raises(PlanImportError) as excinfo:
        parse_source(source)
    message = str(excinfo.value)
    assert message.startswith("01-01-PLAN.md:")
    assert excinfo.value.origin.line in (4, 5, 6)
    assert "front matter is not valid YAML" in message


def test_unclosed_front_matter_is_an_error():
    with pytest.raises(PlanImportError, match="never closed"):
        parse_source(ImportSource.from_bytes("01-01-PLAN.md", b"---\nphase: 1\n"))


def test_cyclic_plan_set_in_a_zip_names_the_cycle():
    data = _zip(
        {
            ".planning/phases/01-a/01-01-PLAN.md": PLAN.format(
                phase="01", plan="01", deps='["01-02"]'
            ),
            ".planning/phases/01-a/01-02-PLAN.md": PLAN.format(
                phase="01", plan="02", deps='["01-01"]'
            ),
        }
    )
    with pytest.raises(PlanImportError, match=r"dependency cycle: 01-0\d -> 01-0\d -> 01-0\d"):
        parse_source(ImportSource.from_bytes("plans.zip", data))


def test_unknown_task_type_is_an_error_with_its_line():
    text = PLAN.format(phase="01", plan="01", deps="[]").replace('type="auto"', 'type="magic"')
    with pytest.raises(PlanImportError, match="unknown task type 'magic'") as excinfo:
        parse_source(ImportSource.from_bytes("01-01-PLAN.md", text.encode()))
    assert excinfo.value.origin.line == 9


def test_format_detection():
    assert detect_format(ImportSource(name="x", files={"phases/01-a/01-01-PLAN.md": ""})) == "gsd"
    assert detect_format(ImportSource(name="x", files={"tasks.json": "{}"})) == "taskmaster"
    assert detect_format(ImportSource(name="x", files={"PRD.md": ""})) == "markdown"
    with pytest.raises(PlanImportError, match="unknown format"):
        parse_source(ImportSource(name="x", files={"a.md": ""}), "docx")


def test_mojibake_repair_leaves_real_accents_alone():
    assert repair_mojibake("naïve café — ok") == "naïve café — ok"
    assert repair_mojibake("Phase 1 â€” done âœ…") == "Phase 1 — done ✅"
    assert decode("caf\xe9".encode("cp1252"), name="x.md") == "café"  # not UTF-8 at all


# Task Master ---------------------------------------------------------------------------

TAGGED = {
    "master": {
        "tasks": [
            {
                "id": 1,
                "title": "Set up repo",
                "description": "Create the repository",
                "details": "Use git",
                "testStrategy": "git status works",
                "status": "done",
                "priority": "high",
                "dependencies": [],
                "complexity": 3,
            },
            {
                "id": 2,
                "title": "Build API",
                "description": "",
                "status": "in-progress",
                "priority": "medium",
                "dependencies": [1],
                "subtasks": [
                    {"id": 1, "title": "Models", "status": "pending", "dependencies": []},
                    {"id": 2, "title": "Views", "status": "pending", "dependencies": [1, "1"]},
                ],
            },
        ],
        "metadata": {"name": "Main", "description": "Main line"},
    },
    "ui": {"tasks": [{"id": 1, "title": "Login page", "dependencies": [], "tags": ["frontend"]}]},
}


def test_taskmaster_tagged_format():
    document = parse_tasks_json(json.dumps(TAGGED, indent=2))
    assert [(f.key, f.name) for f in document.features] == [("master", "Main"), ("ui", "ui")]
    tasks = {t.key: t for t in document.tasks}
    assert set(tasks) == {"1", "2", "2.1", "2.2", "ui:1"}
    assert tasks["1"].status == "done" and tasks["1"].priority == "high"
    assert tasks["1"].complexity == 3 and tasks["1"].verify == "git status works"
    assert tasks["1"].extra["details"] == "Use git"
    assert tasks["2"].status == "in_progress" and tasks["2"].depends_on == ["1"]
    assert tasks["2.2"].depends_on == ["2.1"]  # a bare number in a subtask means a sibling
    assert tasks["2.1"].parent == "2" and "parent" not in tasks["2.1"].extra
    assert tasks["ui:1"].feature == "ui" and tasks["ui:1"].extra["tags"] == ["frontend"]


def test_taskmaster_legacy_format():
    document = parse_tasks_json(json.dumps({"tasks": TAGGED["master"]["tasks"]}))
    assert [f.key for f in document.features] == ["master"]
    assert len(document.tasks) == 4


def test_taskmaster_dangling_dependency_names_the_task_and_line():
    data = json.dumps(
        {"tasks": [{"id": 1, "title": "a"}, {"id": 7, "title": "b", "dependencies": [99]}]},
        indent=2,
    )
    with pytest.raises(PlanImportError, match="task 7 depends on 99") as excinfo:
        parse_tasks_json(data)
    assert excinfo.value.origin.line == data.split("\n").index('      "id": 7,') + 1


def test_taskmaster_invalid_json_names_the_line():
    with pytest.raises(PlanImportError, match="not valid JSON") as excinfo:
        parse_tasks_json('{\n  "tasks": [\n    {"id": 1,,}\n  ]\n}')
    assert excinfo.value.origin.line == 3


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("title", 5, "title 5"),
        ("description", {"a": 1}, 'description {"a": 1}'),
        ("status", ["done"], 'status ["done"]'),
        ("testStrategy", True, "testStrategy true"),
    ],
)
def test_taskmaster_prose_fields_must_be_text(field, value, shown):
    data = json.dumps({"tasks": [{"id": 1, "title": "a"}, {"id": 2, field: value}]}, indent=2)
    with pytest.raises(PlanImportError, match=f"task 2 has {re.escape(shown)}: expected text") as e:
        parse_tasks_json(data)
    assert e.value.origin.line == data.split("\n").index('      "id": 2,') + 1


def test_taskmaster_cycle_is_rejected():
    data = {"tasks": [{"id": 1, "dependencies": [2]}, {"id": 2, "dependencies": [1]}]}
    with pytest.raises(PlanImportError, match=r"cycle: (1 -> 2 -> 1|2 -> 1 -> 2)"):
        parse_tasks_json(json.dumps(data))


# Markdown ------------------------------------------------------------------------------

PRD = """# Shop PRD

## Accounts
People sign in to buy things.

- [x] Create user model (high)
- Login page, after Create user model
  - remember me
- Password reset (depends on Login page)

## Checkout
1. Payment integration (depends on F01-T2) [P0]
2. Receipts
"""


def test_markdown_headings_lists_and_dependency_phrases():
    document = parse_markdown(PRD)
    assert [(f.key, f.name) for f in document.features] == [
        ("F01", "Accounts"),
        ("F02", "Checkout"),
    ]
    assert document.features[0].description == "People sign in to buy things."
    tasks = {t.key: t for t in document.tasks}
    assert tasks["F01-T1"].status == "done" and tasks["F01-T1"].priority == "high"
    assert tasks["F01-T2"].name == "Login page" and tasks["F01-T2"].depends_on == ["F01-T1"]
    assert tasks["F01-T2"].description == "- remember me"
    assert tasks["F01-T3"].depends_on == ["F01-T2"]
    assert tasks["F02-T1"].depends_on == ["F01-T2"] and tasks["F02-T1"].priority == "high"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_prd_in_utf16_or_utf32_with_its_byte_order_mark_reads_as_in_utf8(encoding):
    # Windows PowerShell's `>` writes UTF-16 with a byte order mark.
    data = (codecs.BOM_UTF16_BE if encoding == "utf-16-be" else b"") + PRD.encode(encoding)
    source = ImportSource.from_bytes("PRD.md", data)
    assert source.files == {"PRD.md": PRD}
    assert parse_source(source).to_snapshot() == parse_markdown(PRD).to_snapshot()


def test_a_file_with_nul_characters_is_not_read_as_text():
    data = b"# PRD\n\n- one\n- t\x00wo\n"
    with pytest.raises(PlanImportError, match="not a text file") as excinfo:
        ImportSource.from_bytes("PRD.md", data)
    assert str(excinfo.value.origin) == "PRD.md:4"
    with pytest.raises(PlanImportError, match="not a text file"):
        ImportSource.from_bytes("plans.zip", _zip({"PRD.md": data.decode()}))


def test_a_nul_character_escaped_in_json_is_refused_with_its_task():
    tasks = {"tasks": [{"id": 1, "title": "ok"}, {"id": 2, "title": "bad\u0000title"}]}
    with pytest.raises(PlanImportError, match="NUL character") as excinfo:
        parse_source(ImportSource.from_bytes("tasks.json", json.dumps(tasks).encode()))
    assert excinfo.value.origin.file == "tasks.json"


def test_a_dependency_phrase_that_names_no_task_is_a_note_and_a_warning():
    document = parse_markdown(
        "## A\n- one\n- two (after Nothing like it)\n"
        "- three (after Phase 16 M2M (2026-04-25))\n"
        "- four (depends on one and the Regla 4 section)\n",
        path="prd.md",
    )
    tasks = {t.name: t for t in document.tasks}
    assert tasks["two"].depends_on == [] and tasks["two"].extra["dependency_notes"] == [
        "Nothing like it"
    ]
    assert tasks["three"].extra["dependency_notes"] == ["Phase 16 M2M (2026-04-25)"]
    assert tasks["four"].depends_on == [tasks["one"].key]
    assert tasks["four"].extra["dependency_notes"] == ["the Regla 4 section"]
    assert document.warnings[0].startswith("prd.md:3: 'Nothing like it' in a dependency phrase")
    assert len(document.warnings) == 3


def test_markdown_without_items_is_an_error():
    with pytest.raises(PlanImportError, match="no list items"):
        parse_markdown("# Title\n\nJust prose.\n")


def test_keys_with_control_characters_are_refused():
    data = json.dumps({"front\x1b[2Jend": {"tasks": [{"id": 1, "title": "a"}]}})
    with pytest.raises(PlanImportError, match=r"feature key .* contains a control character"):
        parse_tasks_json(data)
