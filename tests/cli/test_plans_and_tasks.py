"""`crewboard import`, `export`, `next`, `list`, `show`, `set-status` and `add-task`."""

import json
import uuid
from pathlib import Path

import pytest

from planning.models import ImportJob, Project, Task
from tests.celery_worker import spawn_worker, stop_worker
from tests.factories import FeatureFactory, TaskDependencyFactory, TaskFactory

DEMO = Path(__file__).resolve().parents[2] / "planning" / "demo" / ".planning"
TASKS_JSON = {
    "master": {
        "tasks": [
            {"id": 1, "title": "Schema", "status": "done", "priority": "high", "dependencies": []},
            {"id": 2, "title": "API", "status": "pending", "priority": "high", "dependencies": [1]},
            {"id": 3, "title": "UI", "status": "pending", "priority": "low", "dependencies": [2]},
        ],
        "metadata": {},
    }
}


def test_import_a_folder_then_again_changes_nothing(crewboard, logged_in):
    first = crewboard("import", DEMO, "--json")
    assert first.exit_code == 0, first.stderr
    assert first.json()["version"] == 1 and first.json()["created"]["tasks"] == 10
    assert logged_in.tasks.count() == 10
    again = crewboard("import", DEMO)
    assert again.exit_code == 0
    assert again.stderr == "Imported .planning into crewboard: no changes; no new version.\n"


def test_import_creates_the_project_when_asked(crewboard, logged_in, person, tmp_path):
    plan = tmp_path / "tasks.json"
    plan.write_text(json.dumps(TASKS_JSON))
    missing = crewboard("import", plan, "--project", "shop")
    assert missing.exit_code == 1
    assert "No project 'shop' that you are a member of; pass --create" in missing.stderr
    created = crewboard("import", plan, "--project", "shop", "--create", "--name", "Shop")
    assert created.exit_code == 0, created.stderr
    assert "into shop (created): " in created.stderr
    shop = Project.objects.get(slug="shop")
    assert shop.name == "Shop" and shop.owner == person
    assert sorted(shop.tasks.values_list("key", flat=True)) == ["1", "2", "3"]


def test_a_failed_import_writes_nothing_and_keeps_no_created_project(
    crewboard, logged_in, tmp_path
):
    bad = tmp_path / "tasks.json"
    bad.write_text('{"tasks": [{"id": 1, "dependencies": [2]}]}')
    outcome = crewboard("import", bad, "--project", "shop", "--create", "--json")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("crewboard: tasks.json:1: task 1 depends on 2")
    assert outcome.stderr.endswith(" (400)\n") and outcome.stderr.count("\n") == 1
    assert not Project.objects.filter(slug="shop").exists()
    missing = crewboard("import", tmp_path / "nope.json")
    assert missing.exit_code == 2 and "No such file or folder" in missing.stderr
    assert not Task.objects.exists()


def test_export_writes_the_plan(crewboard, logged_in, tmp_path):
    crewboard("import", DEMO)
    target = tmp_path / "tasks.json"
    written = crewboard("export", "--format", "taskmaster", "-o", target, "--json")
    assert written.exit_code == 0, written.stderr
    assert written.json() == {
        "project": "crewboard",
        "format": "taskmaster",
        "path": str(target),
        "bytes": target.stat().st_size,
    }
    # Task Master's own layout: one `master` tag, the plan's features kept in metadata.
    exported = json.loads(target.read_text())
    assert set(exported) == {"master"}
    assert len(exported["master"]["tasks"]) > 0
    snapshot = crewboard("export", "--format", "json")
    assert len(json.loads(snapshot.stdout)["tasks"]) == 10
    unknown = crewboard("export", "--format", "pdf")
    assert unknown.exit_code == 1 and "Unknown export format 'pdf'" in unknown.stderr


def test_next_gives_the_ready_task_or_exit_code_3(crewboard, logged_in):
    nothing = crewboard("next", "--json")
    assert (nothing.exit_code, nothing.stdout) == (3, "")
    assert nothing.stderr == "crewboard: Nothing is ready in crewboard.\n"
    TaskFactory(project=logged_in, key="B", priority="low")
    TaskFactory(project=logged_in, key="D", priority="high", name="Do the thing")
    ready = crewboard("next", "--json")
    assert ready.exit_code == 0
    assert ready.json()["key"] == "D" and ready.json()["status"] == "pending"
    shown = crewboard("next")
    assert "D  Do the thing" in shown.stdout and "high" in shown.stdout


def test_list_filters_like_the_api(crewboard, logged_in, stranger_project):
    feature = FeatureFactory(project=logged_in, key="01")
    done = TaskFactory(project=logged_in, key="A", status="done", feature=feature)
    TaskFactory(project=logged_in, key="B", feature=feature)
    waiting = TaskFactory(project=logged_in, key="C")
    TaskDependencyFactory(task=waiting, depends_on=TaskFactory(project=logged_in, key="E"))
    TaskDependencyFactory(task=TaskFactory(project=logged_in, key="F"), depends_on=done)
    everything = crewboard("list", "--json").json()
    assert everything["count"] == 5 and set(everything) == {"count", "next", "previous", "results"}

    def keys(*args):
        return [t["key"] for t in crewboard("list", "--json", *args).json()["results"]]

    assert sorted(keys("--ready")) == ["B", "E", "F"]
    assert keys("--status", "done") == ["A"]
    assert sorted(keys("--status", "done", "--status", "pending")) == ["A", "B", "C", "E", "F"]
    assert sorted(keys("--feature", "01")) == ["A", "B"]
    paged = crewboard("list", "--page-size", "2")
    assert paged.exit_code == 0 and "2 of 5; next: --page 2" in paged.stdout
    assert crewboard("list", "--status", "nonsense").exit_code == 1
    foreign = crewboard("list", "--project", "bobs")
    assert (foreign.exit_code, foreign.stderr) == (
        1,
        "crewboard: No project 'bobs' that you are a member of.\n",
    )


def test_show_set_status_and_add_task(crewboard, logged_in):
    FeatureFactory(project=logged_in, key="01")
    added = crewboard(
        "add-task", "01-T1", "Write the parser", "--feature", "01", "--priority", "high",
        "--file", "parser.py", "--verify", "pytest", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert added.json()["feature"] == "01" and added.json()["files"] == ["parser.py"]
    shown = crewboard("show", "01-T1", "--json").json()
    assert shown == {**added.json(), "updated_at": shown["updated_at"]}
    assert "Write the parser" in crewboard("show", "01-T1").stdout
    changed = crewboard("set-status", "01-T1", "done")
    assert (changed.exit_code, changed.stderr) == (0, "01-T1 is done.\n")
    assert Task.objects.get(key="01-T1").status == "done"
    bad = crewboard("set-status", "01-T1", "finished")
    assert bad.exit_code == 1 and bad.stderr.startswith("crewboard: status: ")
    missing = crewboard("show", "NOPE")
    assert missing.exit_code == 1 and "No task 'NOPE' in project 'crewboard'" in missing.stderr
    duplicate = crewboard("add-task", "01-T1", "Again")
    assert duplicate.exit_code == 1 and Task.objects.count() == 1


def test_expand_splits_a_task_and_says_why_it_cannot(crewboard, logged_in):
    TaskFactory(project=logged_in, key="4", description="- Add the column\n- Backfill it")
    TaskFactory(project=logged_in, key="5", description="Make it faster")
    expanded = crewboard("expand", "4", "--num", "3", "--json")
    assert expanded.exit_code == 0, expanded.stderr
    assert [(s["key"], s["name"]) for s in expanded.json()["subtasks"]] == [
        ("4.1", "Add the column"),
        ("4.2", "Backfill it"),
    ]
    again = crewboard("expand", "4")
    assert again.exit_code == 1 and "Expand with force to replace them" in again.stderr
    forced = crewboard("expand", "4", "--force")
    assert forced.exit_code == 0 and "Replaced 4.1, 4.2." in forced.stderr
    assert "4.2" in forced.stdout
    refused = crewboard("expand", "5")
    assert refused.exit_code == 1 and "List its steps in the description" in refused.stderr
    assert crewboard("expand", "4", "--num", "21").exit_code == 2
    missing = crewboard("expand", "NOPE")
    assert missing.exit_code == 1 and "No task 'NOPE'" in missing.stderr
    assert Task.objects.filter(parent__key="4").count() == 2


@pytest.mark.worker
def test_a_large_import_is_waited_for_while_a_worker_carries_it_out(
    crewboard, logged_in, settings, tmp_path
):
    queue = f"imports-{uuid.uuid4().hex[:10]}"
    settings.IMPORT_ASYNC_BYTES = 100
    settings.IMPORT_QUEUE = queue
    env = {}
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["CELERY_BROKER_DIR"] = str(settings.BROKER_DIR)
    plan = tmp_path / "tasks.json"
    plan.write_text(json.dumps(TASKS_JSON))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tasks": [{"id": 1, "title": "a" * 200, "dependencies": [2]}]}))
    process = spawn_worker(queue, env, tmp_path / "worker.log")
    try:
        outcome = crewboard("import", plan)
        failed = crewboard("import", bad, "--project", "shop", "--create")
    finally:
        stop_worker(process)
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr == (
        "Imported tasks.json into crewboard: added 2 dependencies, 1 feature, 3 tasks; version 1.\n"
    )
    assert logged_in.tasks.count() == 3
    assert ImportJob.objects.filter(project=logged_in, status="succeeded").count() == 1
    assert failed.exit_code == 1
    assert failed.stderr.startswith("crewboard: bad.json:1: task 1 depends on 2")
    # The project made for the import goes with it, as when the server refuses at once.
    assert not Project.objects.filter(slug="shop").exists()
