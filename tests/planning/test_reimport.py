"""Re-importing by source identity, the preview of another source, and restores that
keep a task's work only while it is the same task."""

import json

import pytest

from planning.importers import ImportSource
from planning.importers.document import PlanImportError
from planning.models import DevPlanVersion, Task, TaskDependency
from planning.services.imports import ImportMode, plan_import
from planning.services.versions import version_create, version_restore
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

PRD = """# Shop

## Accounts

- Sign-up form
- Login page (after Sign-up form)
- Password reset

## Payments

- Card checkout
- Receipts by email
"""


def _md(text, name="PRD.md"):
    return ImportSource.from_bytes(name, text.encode())


def _tasks_json(tasks, name="tasks.json"):
    return ImportSource.from_bytes(name, json.dumps({"tasks": tasks}).encode())


def _rows(project):
    return {
        t.key: (t.name, t.status, t.feature.key if t.feature else None)
        for t in project.tasks.select_related("feature")
    }


def _edges(project):
    return sorted(
        TaskDependency.objects.filter(task__project=project).values_list(
            "task__key", "depends_on__key"
        )
    )


def _work(project, **statuses):
    for key, status in statuses.items():
        Task.objects.filter(project=project, key=key).update(status=status)


def test_importing_the_same_source_twice_changes_nothing(project):
    first = plan_import(project=project, source=_md(PRD))
    before, edges = _rows(project), _edges(project)
    again = plan_import(project=project, source=_md(PRD))
    assert first.applied and again.applied and again.preview is None
    assert not again.result.changed and again.version is None
    assert (_rows(project), _edges(project)) == (before, edges)


def test_a_task_inserted_above_others_renames_and_rewires_none_of_them(project):
    plan_import(project=project, source=_md(PRD))
    _work(project, **{"F01-T2": "done", "F01-T3": "in_progress"})
    before = _rows(project)
    edited = PRD.replace("- Sign-up form\n", "- Sign-up form\n- Captcha on sign-up\n")
    outcome = plan_import(project=project, source=_md(edited))
    assert outcome.result.created["tasks"] == 1
    after = _rows(project)
    # Every task kept its key, name and status; the new one took a key nobody held.
    assert {key: after[key] for key in before} == before
    [new_key] = after.keys() - before.keys()
    assert after[new_key][:2] == ("Captcha on sign-up", "pending")
    assert _edges(project) == [("F01-T2", "F01-T1")]


def test_editing_one_task_changes_only_that_task(project):
    plan_import(project=project, source=_md(PRD))
    _work(project, **{"F01-T1": "done", "F02-T1": "done"})
    before = _rows(project)
    outcome = plan_import(
        project=project, source=_md(PRD.replace("Password reset", "Password reset by SMS"))
    )
    assert outcome.result.updated == {"tasks": 1} and not outcome.result.created
    after = _rows(project)
    assert after["F01-T3"] == ("Password reset by SMS", "pending", "F01")
    assert {k: v for k, v in after.items() if k != "F01-T3"} == {
        k: v for k, v in before.items() if k != "F01-T3"
    }


def test_taskmaster_tasks_are_matched_by_tag_and_id_not_by_place(project):
    tasks = [{"id": n, "title": f"Task {n}"} for n in (1, 2, 3)]
    plan_import(project=project, source=_tasks_json(tasks))
    rows = dict(project.tasks.values_list("key", "pk"))
    # 2 is gone from the file, 4 is new, and 3 now comes first.
    reordered = [tasks[2] | {"title": "Task three"}, tasks[0], {"id": 4, "title": "Task 4"}]
    outcome = plan_import(project=project, source=_tasks_json(reordered))
    after = dict(project.tasks.values_list("key", "pk"))
    assert {key: after[key] for key in rows} == rows  # the same rows under the same keys
    assert project.tasks.get(key="3").name == "Task three"
    assert project.tasks.get(key="4").name == "Task 4"
    assert outcome.result.created["tasks"] == 1  # and 2 stays: only "replace" removes


def _other_plan(project):
    plan_import(project=project, source=_tasks_json([{"id": 1, "title": "Old one"}], "old.json"))
    Task.objects.filter(project=project, key="1").update(status="done")


def _state(project):
    return (
        _rows(project),
        _edges(project),
        sorted(project.features.values_list("key", "name")),
        DevPlanVersion.objects.filter(plan__project=project).count(),
    )


def test_another_source_into_a_plan_is_previewed_and_writes_nothing(project):
    _other_plan(project)
    before = _state(project)
    outcome = plan_import(project=project, source=_md(PRD))
    assert not outcome.applied and outcome.version is None
    assert _state(project) == before
    preview = outcome.preview
    assert preview.source == "markdown:PRD" and preview.plan_sources == ["taskmaster:old"]
    assert preview.counts() == {"added": 5, "changed": 0, "removed": 1}
    page = preview.as_dict(page=1, size=2)
    assert page["choices"] == ["replace", "merge"]
    assert page["tasks"]["pages"] == 3
    assert [t["name"] for t in page["tasks"]["added"]] == ["Sign-up form", "Login page"]
    assert page["tasks"]["removed"] == [{"key": "1", "name": "Old one"}]
    last = preview.page(3, size=2)
    assert [t["name"] for t in last["added"]] == ["Receipts by email"] and not last["removed"]


def test_replace_makes_the_plan_the_file_with_its_own_keys(project):
    _other_plan(project)
    tasks = [{"id": 1, "title": "New one"}, {"id": 2, "title": "Two", "dependencies": [1]}]
    outcome = plan_import(
        project=project, source=_tasks_json(tasks, "new.json"), mode=ImportMode.REPLACE
    )
    assert outcome.applied and outcome.result.removed["tasks"] == 1
    # The old task 1 is gone with its status; the file's 1 is a new row, not the old one.
    assert _rows(project) == {
        "1": ("New one", "pending", "master"),
        "2": ("Two", "pending", "master"),
    }
    assert _edges(project) == [("2", "1")]
    assert "(replacing the plan)" in outcome.version.change_summary


def test_merge_keeps_every_other_task_and_gives_clashing_keys_new_ones(project):
    _other_plan(project)
    tasks = [{"id": 1, "title": "New one"}, {"id": 2, "title": "Two", "dependencies": [1]}]
    outcome = plan_import(project=project, source=_tasks_json(tasks, "new.json"), mode="merge")
    assert outcome.result.created["tasks"] == 2
    rows = _rows(project)
    assert rows["1"] == ("Old one", "done", "master")
    assert rows["1-2"][:2] == ("New one", "pending") and rows["2"][0] == "Two"
    assert _edges(project) == [("2", "1-2")]
    # Now both are the plan's sources: importing either again applies at once.
    again = plan_import(project=project, source=_tasks_json(tasks, "new.json"))
    assert again.applied and not again.result.changed


def test_an_unknown_mode_is_refused_before_anything_is_read(project):
    with pytest.raises(PlanImportError, match="unknown import mode 'overwrite'"):
        plan_import(project=project, source=_md(PRD), mode="overwrite")


def test_hand_made_tasks_make_a_file_wait_for_the_choice(project):
    TaskFactory(project=project, key="1", name="Made here")
    outcome = plan_import(project=project, source=_tasks_json([{"id": 1, "title": "x"}]))
    assert outcome.preview is not None and outcome.preview.plan_sources == []
    assert project.tasks.get().name == "Made here"


# Restore ---------------------------------------------------------------------------------


def test_restore_keeps_the_status_of_the_same_task_and_resets_a_changed_one(project):
    plan_import(project=project, source=_md(PRD))
    v1 = DevPlanVersion.objects.get(plan__project=project)
    Task.objects.filter(project=project, key="F01-T1").update(description="Now with OAuth")
    Task.objects.filter(project=project, key="F01-T2").update(priority="high")
    _work(project, **{"F01-T1": "done", "F01-T2": "done", "F02-T1": "in_progress"})
    result, restored = version_restore(version=v1)
    statuses = dict(project.tasks.values_list("key", "status"))
    # F01-T1's action changed since v1: its work was for another task. A priority is no
    # part of a task's meaning, so F01-T2 stays done.
    assert result.reset == ["F01-T1"]
    assert statuses["F01-T1"] == "pending" and project.tasks.get(key="F01-T1").completed_at is None
    assert (statuses["F01-T2"], statuses["F02-T1"]) == ("done", "in_progress")
    assert "1 changed task reset to pending" in restored.change_summary


def test_restore_of_a_snapshot_without_hashes_compares_the_content(project):
    plan_import(project=project, source=_md(PRD))
    v1 = DevPlanVersion.objects.get(plan__project=project)
    old_snapshot = json.loads(json.dumps(v1.snapshot))
    for row in old_snapshot["tasks"]:
        # Older snapshots had neither hashes nor some fields, which read as their defaults.
        del row["content_hash"], row["extra"]
    old = DevPlanVersion.objects.create(plan=v1.plan, number=2, snapshot=old_snapshot)
    Task.objects.filter(project=project, key="F02-T2").update(name="Receipts by post")
    _work(project, **{"F02-T1": "done", "F02-T2": "done"})
    result, _ = version_restore(version=old)
    assert result.reset == ["F02-T2"]
    assert dict(project.tasks.values_list("key", "status"))["F02-T1"] == "done"


def test_restore_gives_back_identities_so_a_later_reimport_still_matches(project):
    plan_import(project=project, source=_md(PRD))
    v1 = DevPlanVersion.objects.get(plan__project=project)
    project.tasks.filter(key="F02-T2").delete()
    version_create(project=project, summary="deleted one")
    version_restore(version=v1)
    assert project.tasks.get(key="F02-T2").source_identity.endswith("|Payments|Receipts by email")
    again = plan_import(project=project, source=_md(PRD))
    assert again.applied and not again.result.changed
