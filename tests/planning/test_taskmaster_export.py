"""The Task Master export: Task Master's own CLI reads and changes it as a native file,
and importing it gives back the identical plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from planning import selectors
from planning.exporters import export_plan
from planning.importers import ImportSource, parse_source
from planning.importers.document import PlanDocument, PlanImportError, TaskSpec
from planning.importers.taskmaster import parse_tasks_json
from planning.services.plans import plan_apply
from tests.planning.taskmaster_cli import needs_task_master, run, run_json, write_project

pytestmark = pytest.mark.django_db

DEMO = Path(__file__).resolve().parents[2] / "planning" / "demo" / ".planning"
MULTI_LINE = "Run the suite:\n\n    make test\n\nthen check the report."


def _export(document: PlanDocument) -> dict:
    return json.loads(export_plan(document, fmt="taskmaster", title="Demo").content)


def _demo_document(project) -> PlanDocument:
    call_command("import_plan", str(DEMO), project=project.slug, no_progress=True)
    task = project.tasks.order_by("sort_key").first()
    task.verify = MULTI_LINE
    task.save()
    return selectors.plan_document(project=project)


def test_a_gsd_plan_exports_as_one_master_tag_with_numeric_ids_and_round_trips(project):
    document = _demo_document(project)
    data = _export(document)
    assert list(data) == ["master"]
    tasks = data["master"]["tasks"]
    assert [t["id"] for t in tasks] == list(range(1, len(tasks) + 1))
    assert all(isinstance(d, int) for t in tasks for d in t["dependencies"])
    assert tasks[0]["metadata"]["crewboard"]["key"] == "01-01-T1"
    assert MULTI_LINE in [t["testStrategy"] for t in tasks]
    back = parse_tasks_json(json.dumps(data))
    assert back.to_snapshot() == document.to_snapshot()


def test_an_export_whose_task_ids_repeat_is_refused_by_name(project):
    data = _export(_demo_document(project))
    tasks = data["master"]["tasks"]
    # Hand-edited: a later task takes the id of the first, and each still has its key.
    duplicate = next(t for t in tasks[1:] if t["dependencies"])
    duplicate["id"] = tasks[0]["id"]
    with pytest.raises(PlanImportError, match=r"task id 1 is used by two tasks \(01-01-T1 and "):
        parse_tasks_json(json.dumps(data))


def test_task_master_ids_and_subtasks_keep_their_numbers_and_round_trip():
    document = PlanDocument(
        tasks=[
            TaskSpec(key="2", name="Two", feature=None, priority="high"),
            TaskSpec(key="10", name="Ten", depends_on=["2.1"], wave=3),
            TaskSpec(key="2.1", name="Sub", parent="2", description=MULTI_LINE),
            TaskSpec(key="2.2", name="Sub 2", parent="2", depends_on=["2.1"], wave=2),
            TaskSpec(
                key="X-1",
                name="Mine",
                depends_on=["10"],
                priority="high",
                extra={"priority": "critical"},
            ),
        ]
    )
    document.validate()
    tasks = _export(document)["master"]["tasks"]
    assert [(t["id"], [s["id"] for s in t["subtasks"]]) for t in tasks] == [
        (2, [1, 2]),
        (10, []),
        (1, []),  # X-1 has no Task Master id: it takes the first free number
    ]
    assert tasks[0]["subtasks"][1]["dependencies"] == [1]  # a sibling, by its number
    assert tasks[1]["dependencies"] == ["2.1"] and tasks[2]["priority"] == "critical"
    assert tasks[0]["subtasks"][0]["description"] == MULTI_LINE
    exported = export_plan(document, fmt="taskmaster", title="Ids").content
    back = parse_source(ImportSource("tasks.json", {"tasks.json": exported.decode()}))
    assert {t.key: t.parent for t in back.tasks} == {
        "2": None,
        "10": None,
        "2.1": "2",
        "2.2": "2",
        "X-1": None,
    }
    assert back.to_snapshot() == document.to_snapshot()


@needs_task_master
def test_task_master_lists_shows_picks_and_sets_status_on_the_export(project, tmp_path):
    document = _demo_document(project)
    exported = export_plan(document, fmt="taskmaster", title="Demo").content.decode()
    tasks_json = write_project(tmp_path, exported)
    listed = run_json(tmp_path, "list", "--with-subtasks")
    assert listed["metadata"]["total"] == len(document.tasks)
    assert [str(t["id"]) for t in listed["tasks"]] == [str(n) for n in range(1, 11)]

    plan_apply(project=project, document=parse_tasks_json(tasks_json.read_text()))
    expected = selectors.task_next_ready(project=project)
    picked = run_json(tmp_path, "next")["task"]
    assert picked["metadata"]["crewboard"]["key"] == expected.key

    shown = run_json(tmp_path, "show", str(picked["id"]))["task"]
    assert shown["title"] == expected.name

    result = run(tmp_path, "set-status", f"--id={picked['id']}", "--status=done")
    assert result.returncode == 0, result.stdout + result.stderr
    after = parse_tasks_json(tasks_json.read_text())
    assert {t.key: t.status for t in after.tasks}[expected.key] == "done"
    # Task Master rewrote the file; the plan in it is still Crewboard's, exactly.
    assert after.to_snapshot() == document.to_snapshot()
