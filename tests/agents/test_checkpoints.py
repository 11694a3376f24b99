"""Checkpoints: what a snapshot captures, and a restore that gives it back or, failing,
writes nothing."""

import json

import pytest
from django.db import IntegrityError

from agents import services
from agents.models import Agent, DecisionLog
from core.errors import DomainError
from planning.importers.document import PlanImportError
from planning.models import Feature, Project, Task, TaskDependency
from planning.selectors import plan_document
from tests.agents.checkpointing import (
    STARTED,
    audit_rows,
    bad_plan,
    bad_status,
    corrupt,
    dangling_dependency,
    git,
    make_repo,
    mutate,
    populate,
    state_json,
)
from tests.factories import AgentFactory, AgentStateFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(project: Project) -> Agent:
    return populate(project)


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


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (bad_plan, PlanImportError),
        (dangling_dependency, PlanImportError),
        (bad_status, IntegrityError),
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
