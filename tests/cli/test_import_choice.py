"""`crewboard import` of a file from another source: the preview, the question, and
--replace / --merge / --json for scripts."""

import json

from planning.models import DevPlanVersion, Task

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
