"""`crewboard import` of a file from another source: the preview, the question, and
--replace / --merge / --json for scripts."""

import json
import uuid

import pytest

from planning.models import DevPlanVersion, ImportJob, Task
from tests.celery_worker import spawn_worker, stop_worker

TASKS_JSON = {"tasks": [{"id": 1, "title": "Schema", "status": "done"}]}
PRD = "# Shop\n\n## Accounts\n\n- Sign-up form\n- Login page\n"


def _files(tmp_path):
    tasks, prd = tmp_path / "tasks.json", tmp_path / "PRD.md"
    tasks.write_text(json.dumps(TASKS_JSON))
    prd.write_text(PRD)
    return tasks, prd


def test_import_shows_the_preview_and_asks(crewboard, logged_in, tmp_path):
    tasks, prd = _files(tmp_path)
    assert crewboard("import", tasks).exit_code == 0

    cancelled = crewboard("import", prd, input="cancel\n")
    assert cancelled.exit_code == 1
    assert "Importing it would add 2, change 0 and (replacing the plan) remove 1" in (
        cancelled.stderr
    )
    assert "  + F01-T1  Sign-up form" in cancelled.stderr
    assert "  - 1  Schema" in cancelled.stderr
    assert cancelled.stderr.endswith("crewboard: Nothing imported.\n")
    assert logged_in.tasks.count() == 1 and DevPlanVersion.objects.count() == 1

    merged = crewboard("import", prd, input="merge\n")
    assert merged.exit_code == 0, merged.stderr
    assert "Imported PRD.md into crewboard: added" in merged.stderr
    assert sorted(logged_in.tasks.values_list("name", flat=True)) == [
        "Login page",
        "Schema",
        "Sign-up form",
    ]


def test_scripts_choose_with_a_flag_and_read_the_preview_as_json(crewboard, logged_in, tmp_path):
    tasks, prd = _files(tmp_path)
    crewboard("import", prd)

    unanswered = crewboard("import", tasks)
    assert unanswered.exit_code == 2
    assert "Nothing imported: pass --replace or --merge to choose." in unanswered.stderr

    previewed = crewboard("import", tasks, "--json")
    assert previewed.exit_code == 4
    preview = json.loads(previewed.stdout)["preview"]
    assert preview["counts"] == {"added": 1, "changed": 0, "removed": 2}
    assert logged_in.tasks.count() == 2

    replaced = crewboard("import", tasks, "--replace", "--json")
    assert replaced.exit_code == 0, replaced.stderr
    assert replaced.json()["mode"] == "replace" and replaced.json()["removed"]["tasks"] == 2
    assert list(Task.objects.values_list("key", "name", "status")) == [("1", "Schema", "done")]


@pytest.mark.worker
def test_a_large_file_from_another_source_waits_on_the_server_for_the_answer(
    crewboard, logged_in, settings, tmp_path
):
    tasks, prd = _files(tmp_path)
    assert crewboard("import", tasks).exit_code == 0  # small: imported while it waits
    queue = f"imports-{uuid.uuid4().hex[:10]}"
    settings.IMPORT_ASYNC_BYTES = 40  # the PRD goes to a worker
    settings.IMPORT_QUEUE = queue
    env = {}
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["CELERY_BROKER_DIR"] = str(settings.BROKER_DIR)
    process = spawn_worker(queue, env, tmp_path / "worker.log")
    try:
        previewed = crewboard("import", prd, "--json")
        cancelled = crewboard("import", prd, input="cancel\n")
        merged = crewboard("import", prd, input="merge\n")
    finally:
        stop_worker(process)

    assert previewed.exit_code == 4, previewed.stderr
    answer = json.loads(previewed.stdout)
    assert answer["preview"]["counts"] == {"added": 2, "changed": 0, "removed": 1}
    assert answer["job"]["status"] == "awaiting_choice"  # a script answers its choice/

    assert cancelled.exit_code == 1 and "  + F01-T1  Sign-up form" in cancelled.stderr
    assert cancelled.stderr.endswith("crewboard: Nothing imported.\n")

    assert merged.exit_code == 0, merged.stderr
    assert "Imported PRD.md into crewboard: added" in merged.stderr
    assert logged_in.tasks.count() == 3
    statuses = ImportJob.objects.filter(file_name="PRD.md").order_by("pk")
    assert [(job.status, job.mode) for job in statuses] == [
        ("awaiting_choice", "ask"),
        ("failed", "ask"),  # cancelled
        ("succeeded", "merge"),
    ]
