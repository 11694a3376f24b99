"""Checkpoints: what a snapshot captures, the diff against now, restore, and their API."""

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError
from django.db.models import Model
from rest_framework.test import APIClient

from agents import services
from agents.checkpoints import canonical_json, diff_states
from agents.models import (
    Agent,
    AgentState,
    Checkpoint,
    DecisionLog,
    Metric,
    PlanningCycle,
    ToolCall,
)
from core.errors import DomainError
from planning import services as planning_services
from planning.importers import ImportSource, parse_source
from planning.importers.document import PlanImportError
from planning.models import Feature, Project, Task, TaskDependency
from planning.selectors import plan_document
from planning.services.plans import plan_apply
from tests.factories import AgentFactory, AgentStateFactory, ProjectFactory

pytestmark = pytest.mark.django_db

DEMO = Path(settings.BASE_DIR) / "planning" / "demo" / ".planning"
STARTED = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


# Building and changing a project ------------------------------------------------------


def populate(project: Project) -> Agent:
    """The demo plan, tasks in every execution state, agent state, and some audit rows."""
    plan_apply(project=project, document=parse_source(ImportSource.from_path(DEMO)))
    agent = AgentFactory(project=project, name="coder-1")
    Task.objects.filter(project=project, key="01-02-T1").update(
        status=Task.Status.IN_PROGRESS,
        assigned_agent=agent,
        worktree_path="/work/wt/01-02-T1",
        branch_name="task/01-02-T1",
        qa_iterations=2,
        started_at=STARTED,
    )
    Task.objects.filter(project=project, key="02-01-T1").update(
        status=Task.Status.REVIEW,
        actual_minutes=42,
        started_at=STARTED,
        completed_at=STARTED + timedelta(hours=1, microseconds=7),
    )
    for namespace, key, value in [
        ("planner", "cursor", {"task": "01-02-T1", "step": 3}),
        ("planner", "flag", 1),
        ("coder", "notes", ["a", "b"]),
        ("coder", "empty", None),
    ]:
        services.agent_state_create(project=project, namespace=namespace, key=key, value=value)
    run = services.agent_run_create(project=project, agent=agent)
    started = services.tool_call_start(project=project, tool_name="get_task", run=run)
    services.tool_call_complete(started=started, status="succeeded", output={"ok": True})
    cycle = services.planning_cycle_open(project=project, goals=["ship"])
    services.decision_record(project=project, decision="Picked SQLite", planning_cycle=cycle)
    services.metric_record(project=project, type="cost", value=0.5)
    return agent


def mutate(project: Project) -> None:
    """Plan edits, execution changes and agent-state changes of every kind."""
    tasks = {t.key: t for t in project.tasks.all()}
    planning_services.task_update(task=tasks["02-02-T1"], data={"name": "Renamed task"})
    planning_services.task_delete(task=tasks["03-01-T1"])
    planning_services.task_create(
        project=project,
        key="99-T1",
        name="Added after the checkpoint",
        depends_on=[tasks["01-01-T1"]],
    )
    TaskDependency.objects.filter(task=tasks["01-01-T2"]).delete()
    planning_services.feature_update(
        feature=Feature.objects.get(project=project, key="02"), data={"name": "Planning II"}
    )
    Task.objects.filter(project=project, key="01-02-T1").update(
        status=Task.Status.DONE,
        assigned_agent=None,
        worktree_path="",
        branch_name="",
        qa_iterations=5,
        completed_at=STARTED + timedelta(days=1),
    )
    Task.objects.filter(project=project, key="01-01-T1").update(status=Task.Status.FAILED)
    Task.objects.filter(project=project, key="02-01-T1").update(
        actual_minutes=None, completed_at=None
    )
    entries = {(e.namespace, e.key): e for e in project.agent_state.all()}
    services.agent_state_update(
        entry=entries["planner", "cursor"], data={"value": {"task": "02-01-T1"}}
    )
    # Equal to 1 in Python, but not the same JSON: a restore must still put 1 back.
    AgentState.objects.filter(pk=entries["planner", "flag"].pk).update(value=True)
    services.agent_state_delete(entry=entries["coder", "notes"])
    services.agent_state_create(project=project, namespace="coder", key="new", value="x")


def state_json(project: Project) -> str:
    """The project's state now, as canonical JSON."""
    checkpoint = services.checkpoint_snapshot(project=project, name="probe")
    state = checkpoint.state
    checkpoint.delete()
    return json.dumps(state, sort_keys=True)


def rows(model: type[Model]) -> list[dict[str, Any]]:
    return list(model.objects.order_by("pk").values())


def audit_rows() -> dict[str, list[dict[str, Any]]]:
    return {m.__name__: rows(m) for m in (ToolCall, DecisionLog, PlanningCycle, Metric)}


def git(path: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=path, capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip()


def make_repo(path: Path, *, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    if commit:
        git(path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q",
            "--allow-empty", "-m", "first")  # fmt: skip
    return path


@pytest.fixture
def agent(project: Project) -> Agent:
    return populate(project)


# Snapshot -----------------------------------------------------------------------------


def test_snapshot_captures_plan_execution_state_and_agent_state(project, agent):
    AgentStateFactory(project=None, namespace="global", key="g", value=1)
    AgentStateFactory(project=ProjectFactory(), namespace="planner", key="other", value=2)

    checkpoint = services.checkpoint_snapshot(
        project=project, name="run started", reason="run started"
    )

    checkpoint.refresh_from_db()
    state = checkpoint.state
    assert (checkpoint.name, checkpoint.reason, checkpoint.git_commit) == (
        "run started",
        "run started",
        "",
    )
    assert state["format"] == 1
    assert state["plan"] == plan_document(project=project).to_snapshot()
    assert "status" not in state["plan"]["tasks"][0]
    assert set(state["tasks"]) == set(project.tasks.values_list("key", flat=True))
    assert state["tasks"]["01-02-T1"] == {
        "status": "in_progress",
        "assigned_agent_id": agent.pk,
        "worktree_path": "/work/wt/01-02-T1",
        "branch_name": "task/01-02-T1",
        "qa_iterations": 2,
        "actual_minutes": None,
        "started_at": "2025-03-01T09:30:15.123456+00:00",
        "completed_at": None,
    }
    assert state["tasks"]["02-01-T1"]["completed_at"] == "2025-03-01T10:30:15.123463+00:00"
    assert state["tasks"]["01-01-T1"]["status"] == "done"
    assert state["agent_state"] == [
        {"namespace": "coder", "key": "empty", "value": None},
        {"namespace": "coder", "key": "notes", "value": ["a", "b"]},
        {"namespace": "planner", "key": "cursor", "value": {"task": "01-02-T1", "step": 3}},
        {"namespace": "planner", "key": "flag", "value": 1},
    ]


def test_snapshot_records_the_head_commit_of_a_git_root(project, tmp_path):
    repo = make_repo(tmp_path / "repo")
    project.root_path = str(repo)
    project.save()

    checkpoint = services.checkpoint_snapshot(project=project, name="c")

    assert len(checkpoint.git_commit) == 40
    assert checkpoint.git_commit == git(repo, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    "kind", ["unset", "missing", "not a repository", "no commit yet", "a name too long"]
)
def test_snapshot_has_no_commit_without_a_committed_repository(
    project, tmp_path, monkeypatch, kind
):
    # A GIT_DIR left in the environment (by a hook, say) must not lend another repo's HEAD.
    monkeypatch.setenv("GIT_DIR", str(make_repo(tmp_path / "elsewhere") / ".git"))
    plain = tmp_path / "plain"
    plain.mkdir()
    project.root_path = {
        "unset": "",
        "missing": str(tmp_path / "nowhere"),
        "not a repository": str(plain),
        "no commit yet": str(make_repo(tmp_path / "fresh", commit=False)),
        "a name too long": str(tmp_path / ("x" * 300)),  # the system refuses it
    }[kind]
    project.save()

    assert services.checkpoint_snapshot(project=project, name="c").git_commit == ""


# Restore: the round trip ---------------------------------------------------------------


def test_restore_gives_back_the_identical_state(project, agent, django_capture_on_commit_callbacks):
    checkpoint = services.checkpoint_snapshot(project=project, name="before", reason="test")
    captured = json.dumps(checkpoint.state, sort_keys=True)
    survivor_id = Task.objects.get(project=project, key="01-02-T1").pk
    mutate(project)
    assert state_json(project) != captured

    with django_capture_on_commit_callbacks() as callbacks:
        services.checkpoint_restore(checkpoint=checkpoint)

    assert len(callbacks) == 1  # a dispatch: the restore may have made work ready
    assert state_json(project) == captured
    # The rows themselves, not just the snapshot code's view of them.
    task = Task.objects.get(project=project, key="01-02-T1")
    assert task.pk == survivor_id  # kept, so audit rows that name it still do
    assert (task.status, task.assigned_agent, task.qa_iterations, task.completed_at) == (
        "in_progress",
        agent,
        2,
        None,
    )
    assert task.started_at == STARTED
    assert Task.objects.get(project=project, key="03-01-T1").status == "pending"
    assert not Task.objects.filter(project=project, key="99-T1").exists()
    assert Task.objects.get(project=project, key="02-02-T1").name != "Renamed task"
    assert TaskDependency.objects.filter(task__key="01-01-T2", depends_on__key="01-01-T1").exists()
    entries = {(e.namespace, e.key): e.value for e in project.agent_state.all()}
    assert entries == {
        ("coder", "empty"): None,
        ("coder", "notes"): ["a", "b"],
        ("planner", "cursor"): {"task": "01-02-T1", "step": 3},
        ("planner", "flag"): 1,
    }
    assert entries["planner", "flag"] is not True


def test_restore_leaves_the_logs_alone_and_records_one_decision(project, agent, user):
    checkpoint = services.checkpoint_snapshot(project=project, name="before merge")
    mutate(project)
    before = audit_rows()

    decision = services.checkpoint_restore(checkpoint=checkpoint, actor=user)

    after = audit_rows()
    assert after["DecisionLog"][:-1] == before["DecisionLog"]
    assert {k: v for k, v in after.items() if k != "DecisionLog"} == {
        k: v for k, v in before.items() if k != "DecisionLog"
    }
    assert after["DecisionLog"][-1]["id"] == decision.pk
    assert decision.project == project
    assert decision.decision == "Restored checkpoint before merge"
    assert decision.reasoning["checkpoint"] == checkpoint.pk
    assert decision.reasoning["restored_by"] == "alice"
    summary = decision.reasoning["summary"]
    assert "1 task added" in summary and "1 task removed" in summary
    assert "agent state 1 added, 1 removed, 2 changed" in summary
    assert "git" in decision.reasoning["files"]


def test_restoring_an_unchanged_project_changes_nothing_but_is_logged(project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="now")
    captured = state_json(project)
    decisions = DecisionLog.objects.count()

    decision = services.checkpoint_restore(checkpoint=checkpoint)

    assert decision.reasoning["summary"] == "no changes"
    assert state_json(project) == captured
    assert DecisionLog.objects.count() == decisions + 1


def test_restore_unassigns_a_task_whose_agent_was_deleted(project, agent):
    spare = AgentFactory(project=project, name="spare")
    spare_id = spare.pk
    Task.objects.filter(project=project, key="02-02-T2").update(assigned_agent=spare)
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    Task.objects.filter(project=project, key="02-02-T2").update(status="in_progress")
    services.agent_delete(agent=spare)

    decision = services.checkpoint_restore(checkpoint=checkpoint)

    task = Task.objects.get(project=project, key="02-02-T2")
    assert (task.status, task.assigned_agent_id) == ("pending", None)
    assert decision.reasoning["warnings"] == [
        f"Agent {spare_id} no longer exists; 02-02-T2 is left unassigned."
    ]


def test_restore_does_not_reserve_a_pending_task_for_a_terminated_agent(project, agent):
    retired = AgentFactory(project=project, name="retired")
    Task.objects.filter(project=project, key="02-02-T2").update(assigned_agent=retired)
    Task.objects.filter(project=project, key="01-01-T1").update(
        status="done", assigned_agent=retired
    )
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    services.agent_terminate(agent=retired, reason="retired")

    decision = services.checkpoint_restore(checkpoint=checkpoint)

    assert Task.objects.get(project=project, key="02-02-T2").assigned_agent_id is None
    assert Task.objects.get(project=project, key="01-01-T1").assigned_agent_id == retired.pk
    assert decision.reasoning["warnings"] == [
        f"Agent {retired.pk} is terminated; pending 02-02-T2 is left unassigned."
    ]


# Restore: failures write nothing -------------------------------------------------------


def corrupt(checkpoint: Checkpoint, change: Any) -> None:
    state = checkpoint.state
    change(state)
    Checkpoint.objects.filter(pk=checkpoint.pk).update(state=state)
    checkpoint.refresh_from_db()


def _bad_plan(state: dict[str, Any]) -> None:
    # Features are written before tasks, so plan_apply fails part-way through.
    state["plan"]["features"][0]["name"] = "Written before the failure"
    state["plan"]["tasks"][-1]["max_iterations"] = -1


def _dangling_dependency(state: dict[str, Any]) -> None:
    state["plan"]["tasks"][0]["depends_on"] = ["no-such-task"]


def _bad_status(state: dict[str, Any]) -> None:
    # Fails after the plan and the other tasks are written.
    state["tasks"]["03-01-T1"]["status"] = "bogus"


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (_bad_plan, PlanImportError),
        (_dangling_dependency, PlanImportError),
        (_bad_status, IntegrityError),
    ],
    ids=["plan fails part-way", "plan invalid", "execution state invalid"],
)
def test_a_restore_that_fails_writes_nothing(project, agent, change, cause):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    corrupt(checkpoint, change)
    mutate(project)
    before_state, before_logs = state_json(project), audit_rows()

    with pytest.raises(DomainError, match="cannot be restored") as raised:
        services.checkpoint_restore(checkpoint=checkpoint)

    assert isinstance(raised.value.__cause__, cause)
    assert state_json(project) == before_state
    assert audit_rows() == before_logs
    assert Feature.objects.get(project=project, key="01").name != "Written before the failure"


@pytest.mark.parametrize(
    "state",
    [{}, {"tasks": {"T1": "done"}}, {"format": 1, "plan": {}, "tasks": [], "agent_state": []}],
)
def test_states_not_taken_by_a_snapshot_are_refused(project, agent, state):
    checkpoint = services.checkpoint_create(project=project, name="hand-made", state=state)
    before_state, decisions = state_json(project), DecisionLog.objects.count()

    with pytest.raises(DomainError, match="cannot be used"):
        services.checkpoint_restore(checkpoint=checkpoint)
    with pytest.raises(DomainError, match="cannot be used"):
        services.checkpoint_diff(checkpoint=checkpoint)

    assert state_json(project) == before_state
    assert DecisionLog.objects.count() == decisions


# Diff ---------------------------------------------------------------------------------


def test_diff_says_what_a_restore_would_change(project, agent, tmp_path):
    repo = make_repo(tmp_path / "repo")
    project.root_path = str(repo)
    project.save()
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    mutate(project)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q",
        "--allow-empty", "-m", "second")  # fmt: skip

    diff = services.checkpoint_diff(checkpoint=checkpoint).as_dict()

    assert not diff["empty"]
    # Before is now, after is the checkpoint: a restore adds back what was deleted.
    assert diff["plan"]["tasks"]["added"] == ["03-01-T1"]
    assert diff["plan"]["tasks"]["removed"] == ["99-T1"]
    assert diff["plan"]["tasks"]["changed"][0]["fields"]["name"]["after"] != "Renamed task"
    assert diff["plan"]["features"]["changed"][0]["fields"]["name"] == {
        "before": "Planning II",
        "after": "Planning",
    }
    assert ["01-01-T2", "01-01-T1"] in diff["plan"]["dependencies"]["added"]
    tasks = {t["key"]: t["fields"] for t in diff["tasks"]}
    assert set(tasks) == {"01-01-T1", "01-02-T1", "02-01-T1"}
    assert tasks["01-02-T1"]["status"] == {"before": "done", "after": "in_progress"}
    assert tasks["01-02-T1"]["assigned_agent_id"] == {"before": None, "after": agent.pk}
    assert tasks["02-01-T1"]["actual_minutes"] == {"before": None, "after": 42}
    assert "started_at" not in tasks["01-02-T1"]
    assert diff["agent_state"]["added"] == [
        {"namespace": "coder", "key": "notes", "value": ["a", "b"]}
    ]
    assert diff["agent_state"]["removed"] == [{"namespace": "coder", "key": "new", "value": "x"}]
    assert [(c["key"], c["before"], c["after"]) for c in diff["agent_state"]["changed"]] == [
        ("cursor", {"task": "02-01-T1"}, {"task": "01-02-T1", "step": 3}),
        ("flag", True, 1),
    ]
    assert diff["git_commit"] == {
        "before": git(repo, "rev-parse", "HEAD"),
        "after": checkpoint.git_commit,
        "changed": True,
    }
    assert "3 tasks with execution changes" in diff["summary"]


def test_diff_of_an_unchanged_project_is_empty(project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")

    diff = services.checkpoint_diff(checkpoint=checkpoint)

    assert diff.empty
    assert diff.summary() == "no changes"
    assert not diff.commit_changed


def test_canonical_json_does_not_depend_on_key_order():
    a = {"b": [1, {"y": 2, "x": None}], "a": "é"}
    b = {"a": "é", "b": [1, {"x": None, "y": 2}]}

    assert canonical_json(a) == canonical_json(b) == '{"a":"é","b":[1,{"x":null,"y":2}]}'
    assert canonical_json(1) != canonical_json(True)


def test_diff_states_tells_json_values_apart_that_python_calls_equal():
    state = {"format": 1, "plan": {}, "tasks": {}}
    before = {**state, "agent_state": [{"namespace": "n", "key": "k", "value": 1}]}
    after = {**state, "agent_state": [{"namespace": "n", "key": "k", "value": True}]}

    diff = diff_states(before, after)

    assert [(c.before, c.after) for c in diff.agent_state.changed] == [(1, True)]
    assert not diff.empty


# API ----------------------------------------------------------------------------------


def url(project: Project, *parts: object) -> str:
    tail = "".join(f"{part}/" for part in parts)
    return f"/api/v1/projects/{project.slug}/checkpoints/{tail}"


def test_api_create_captures_the_state_instead_of_taking_it(api: APIClient, project, agent):
    response = api.post(
        url(project),
        {"name": "by hand", "reason": "before merge", "state": {"x": 1}, "git_commit": "abc"},
    )

    assert response.status_code == 201, response.data
    checkpoint = Checkpoint.objects.get()
    assert (checkpoint.name, checkpoint.reason, checkpoint.git_commit) == (
        "by hand",
        "before merge",
        "",
    )
    assert checkpoint.state["tasks"]["01-02-T1"]["status"] == "in_progress"
    assert response.data["state"] == checkpoint.state
    # Renaming still works, and the captured state still cannot be replaced.
    patched = api.patch(url(project, checkpoint.pk), {"name": "renamed", "state": {}})
    assert patched.status_code == 200
    checkpoint.refresh_from_db()
    assert checkpoint.name == "renamed"
    assert checkpoint.state == response.data["state"]


def test_api_diff_and_restore(api: APIClient, project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    captured = json.dumps(checkpoint.state, sort_keys=True)
    mutate(project)

    diff = api.get(url(project, checkpoint.pk, "diff"))
    assert diff.status_code == 200, diff.data
    assert diff.data["plan"]["tasks"]["added"] == ["03-01-T1"]
    assert diff.data["agent_state"]["added"][0]["key"] == "notes"
    assert diff.data["tasks"][0]["fields"]["status"] == {"before": "failed", "after": "done"}

    restored = api.post(url(project, checkpoint.pk, "restore"))
    assert restored.status_code == 200, restored.data
    assert restored.data["summary"] == diff.data["summary"]
    assert restored.data["decision"]["decision"] == "Restored checkpoint c"
    assert restored.data["warnings"] == []
    assert state_json(project) == captured
    assert api.get(url(project, checkpoint.pk, "diff")).data["empty"] is True


def test_api_viewers_can_diff_but_not_restore(viewer_api: APIClient, project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    mutate(project)
    before_state, decisions = state_json(project), DecisionLog.objects.count()

    assert viewer_api.get(url(project, checkpoint.pk, "diff")).status_code == 200
    assert viewer_api.post(url(project, checkpoint.pk, "restore")).status_code == 403
    assert viewer_api.post(url(project), {"name": "mine"}).status_code == 403

    assert state_json(project) == before_state
    assert DecisionLog.objects.count() == decisions
    assert Checkpoint.objects.count() == 1


def test_api_another_projects_checkpoint_is_404(api: APIClient, project, other_project):
    populate(other_project)
    checkpoint = services.checkpoint_snapshot(project=other_project, name="theirs")
    Task.objects.filter(project=other_project).update(status="failed")

    for slug_project in (project, other_project):
        assert api.get(url(slug_project, checkpoint.pk, "diff")).status_code == 404
        assert api.post(url(slug_project, checkpoint.pk, "restore")).status_code == 404
    assert set(other_project.tasks.values_list("status", flat=True)) == {"failed"}


def test_api_restore_of_an_unusable_checkpoint_is_400(api: APIClient, project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    corrupt(checkpoint, _bad_status)
    mutate(project)
    before_state = state_json(project)

    response = api.post(url(project, checkpoint.pk, "restore"))

    assert response.status_code == 400
    assert "cannot be restored" in response.data["detail"]
    assert state_json(project) == before_state
