"""External agents claim work over the API: the next ready task under a lease, one run at
a time, in a fixed number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from agents import services
from agents.models import Agent, AgentRun
from core.errors import PermissionDeniedError
from planning import selectors as planning_selectors
from planning.models import Task
from tests.agents.external_agents import claim, external_agent, url
from tests.factories import (
    AgentFactory,
    FeatureFactory,
    SubFeatureFactory,
    TaskDependencyFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(project) -> tuple[Agent, APIClient]:
    return external_agent(project)


def test_claim_takes_the_next_ready_task_then_204_when_none(project, worker) -> None:
    agent, client = worker
    first = TaskFactory(project=project, key="T1", priority="high")
    second = TaskFactory(project=project, key="T2")
    waiting = TaskFactory(project=project, key="T3", priority="high")
    TaskDependencyFactory(task=waiting, depends_on=second)
    expected_order = [first, second, waiting]

    for expected in expected_order:
        assert planning_selectors.task_next_ready(project=project) == expected
        claimed = claim(client, project)
        assert claimed.status_code == 201, claimed.data
        assert claimed.data["task"]["key"] == expected.key
        run = AgentRun.objects.get(pk=claimed.data["run"]["id"])
        assert (run.status, run.attempt, run.kind, run.task_id) == (
            "running",
            1,
            "task",
            expected.pk,
        )
        expected.refresh_from_db()
        agent.refresh_from_db()
        assert (expected.status, expected.assigned_agent_id) == ("in_progress", agent.pk)
        assert expected.started_at is not None
        assert (agent.status, agent.current_task_id) == ("busy", expected.pk)
        done = client.post(url(project, f"runs/{run.pk}/complete/"), {"attempt": 1})
        assert done.status_code == 200, done.data

    assert claim(client, project).status_code == 204


def test_the_claimed_run_is_stored_as_returned(project, worker) -> None:
    agent, _ = worker
    TaskFactory(project=project, key="T1")

    run = services.task_claim(agent=agent, lease_seconds=120)

    stored = AgentRun.objects.get(pk=run.pk)
    fields = [field.attname for field in AgentRun._meta.concrete_fields]
    assert {f: getattr(stored, f) for f in fields} == {f: getattr(run, f) for f in fields}
    assert stored.payload == {"task": "T1", "lease_seconds": 120}
    assert stored.lease_expires_at == stored.started_at + timedelta(seconds=120)
    assert services.agent_heartbeat(agent=agent) == stored  # _held_run finds it
    idle, _ = external_agent(project, "idle-1")
    assert services.agent_heartbeat(agent=idle) is None


def test_claim_finishes_started_plans_first(project) -> None:
    feature = FeatureFactory(project=project)
    plan_p = SubFeatureFactory(feature=feature, key="01-01")
    plan_q = SubFeatureFactory(feature=feature, key="01-02")
    TaskFactory(project=project, feature=feature, sub_feature=plan_p, key="P1")
    TaskFactory(project=project, feature=feature, sub_feature=plan_p, key="P2", priority="low")
    TaskFactory(project=project, feature=feature, sub_feature=plan_q, key="Q1")
    claimed = []

    for name in ("first", "second", "third"):
        expected = planning_selectors.task_next_ready(project=project)
        _, client = external_agent(project, name)
        claimed.append(claim(client, project).data["task"]["key"])
        assert claimed[-1] == expected.key

    # P2 is low priority, but its plan is under way, so it comes before Q1.
    assert claimed == ["P1", "P2", "Q1"]


def test_claims_follow_the_next_task_rules_and_skip_checkpoints(project) -> None:
    feature = FeatureFactory(project=project)
    started, fresh = SubFeatureFactory(feature=feature), SubFeatureFactory(feature=feature)
    TaskFactory(project=project, feature=feature, sub_feature=started, status="in_progress")
    done = [TaskFactory(project=project, status="done") for _ in range(2)]

    def task(key: str, priority: str = "high", wave: int = 1, depends_on=(), **fields):
        created = TaskFactory(project=project, key=key, priority=priority, wave=wave, **fields)
        for dependency in depends_on:
            TaskDependencyFactory(task=created, depends_on=dependency)
        return created

    task("P1", priority="low", feature=feature, sub_feature=started)
    task("C-A", depends_on=done)
    task("C-B", depends_on=done[:1])
    task("C-C")
    task("C-D")
    task("C-0", type="checkpoint:human-verify")
    task("A-W2", wave=2, feature=feature, sub_feature=fresh)  # waves order tasks of plans
    task("A-M", priority="medium")
    task("B-Q1", priority="medium", feature=feature, sub_feature=fresh)
    task("A-X", depends_on=[task("Z-P", priority="low")])  # blocked: Z-P is never done
    claimed = []

    for number in range(10):
        expected = planning_selectors.task_next_ready(project=project)
        answer = claim(external_agent(project, f"agent-{number}")[1], project)
        if answer.status_code == 204:
            break
        claimed.append(answer.data["task"]["key"])
        if not expected.needs_human:
            assert claimed[-1] == expected.key

    # The started plan first, whatever its priority; then priority, wave, fewer
    # dependencies and key, never the checkpoint, never the blocked task. Claiming A-W2
    # starts its plan, so B-Q1 of the same plan comes next.
    assert claimed == ["P1", "C-C", "C-D", "C-B", "C-A", "A-W2", "B-Q1", "A-M", "Z-P"]
    assert Task.objects.get(key="C-0").status == Task.objects.get(key="A-X").status == "pending"


def test_a_task_assigned_to_an_agent_is_claimed_by_that_agent_only(project) -> None:
    """As in dispatch: an assignment reserves the task, and its agent gets it first."""
    holder, holder_client = external_agent(project, "holder")
    other_client = external_agent(project, "other")[1]
    third_client = external_agent(project, "third")[1]
    TaskFactory(project=project, key="A-FREE", priority="high")
    TaskFactory(project=project, key="B-HELD", priority="low", assigned_agent=holder)

    assert claim(other_client, project).data["task"]["key"] == "A-FREE"
    assert claim(third_client, project).status_code == 204  # B-HELD is not theirs
    assert Task.objects.get(key="B-HELD").status == "pending"

    TaskFactory(project=project, key="A-NEW", priority="high")
    # Its own task first, though A-NEW ranks higher.
    assert claim(holder_client, project).data["task"]["key"] == "B-HELD"


def test_a_subtask_of_a_task_in_progress_is_claimed_first(project) -> None:
    """As Task Master's `next`: subtasks of a started task before anything else, and a
    subtask whose task has not started waits for it."""
    client = external_agent(project, "worker")[1]
    started = TaskFactory(project=project, key="9", priority="low", status="in_progress")
    waiting = TaskFactory(project=project, key="8", priority="low")
    TaskFactory(project=project, key="8.1", priority="high", parent=waiting)
    TaskFactory(project=project, key="1", priority="high")
    TaskFactory(project=project, key="9.1", priority="low", parent=started)

    keys = []
    for number in range(4):
        answer = claim(external_agent(project, f"agent-{number}")[1], project)
        keys.append(answer.data["task"]["key"] if answer.status_code == 201 else None)

    # 8 starts once 1 has; then its subtask 8.1 goes first.
    assert keys == ["9.1", "1", "8", "8.1"]
    assert claim(client, project).status_code == 204


def test_an_agent_claims_its_own_task_only_when_it_is_ready_and_no_checkpoint(project) -> None:
    holder, client = external_agent(project, "holder")
    blocker = TaskFactory(project=project, key="A-BLOCKER", assigned_agent=None, status="review")
    waiting = TaskFactory(project=project, key="B-WAITING", assigned_agent=holder)
    TaskDependencyFactory(task=waiting, depends_on=blocker)
    TaskFactory(
        project=project, key="C-PERSON", type="checkpoint:human-verify", assigned_agent=holder
    )
    TaskFactory(project=project, key="D-FREE", priority="low")

    assert claim(client, project).data["task"]["key"] == "D-FREE"
    assert Task.objects.get(key="B-WAITING").status == "pending"
    assert Task.objects.get(key="C-PERSON").status == "pending"


def test_terminating_an_agent_frees_the_tasks_it_was_assigned(project) -> None:
    holder = external_agent(project, "holder")[0]
    waiting = TaskFactory(project=project, key="W", assigned_agent=holder)
    finished = TaskFactory(project=project, key="D", status="done", assigned_agent=holder)

    services.agent_terminate(agent=holder, reason="retired")

    waiting.refresh_from_db()
    finished.refresh_from_db()
    assert waiting.assigned_agent is None  # claimable by others again
    assert finished.assigned_agent_id == holder.pk  # history stays as it was
    assert claim(external_agent(project, "next")[1], project).data["task"]["key"] == "W"


def test_a_claim_answers_with_the_tasks_plan_and_dependencies(project, worker) -> None:
    _, client = worker
    plan = SubFeatureFactory(feature=FeatureFactory(project=project, key="02"), key="02-03")
    first, second = TaskFactory(project=project, key="T1"), TaskFactory(project=project, key="T2")
    for dependency in (first, second):
        dependency.status = "done"
        dependency.save()
    task = TaskFactory(project=project, key="T3", feature=plan.feature, sub_feature=plan)
    TaskDependencyFactory(task=task, depends_on=first)
    TaskDependencyFactory(task=task, depends_on=second)

    answer = claim(client, project).data["task"]

    assert (answer["key"], answer["feature"], answer["sub_feature"]) == ("T3", "02", "02-03")
    assert answer["depends_on"] == ["T1", "T2"]
    assert (answer["status"], answer["started_at"] is not None) == ("in_progress", True)


def test_a_claim_checks_the_agent_afresh(project) -> None:
    TaskFactory(project=project)
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    stale = Agent.objects.get(pk=agent.pk)  # as authentication loaded it
    services.agent_terminate(agent=agent, reason="retired")

    with pytest.raises(PermissionDeniedError):
        services.task_claim(agent=stale)

    assert not AgentRun.objects.exists()
    assert Task.objects.get().status == "pending"


def test_checkpoint_tasks_wait_for_a_person(project, worker) -> None:
    _, client = worker
    checkpoint = TaskFactory(
        project=project, key="T1", type="checkpoint:human-verify", priority="high"
    )

    assert claim(client, project).status_code == 204

    TaskFactory(project=project, key="T2", priority="low")
    claimed = claim(client, project)
    assert claimed.status_code == 201
    assert claimed.data["task"]["key"] == "T2"
    checkpoint.refresh_from_db()
    assert (checkpoint.status, checkpoint.assigned_agent) == ("pending", None)


def test_an_agent_holds_one_run_at_a_time(project, worker) -> None:
    _, client = worker
    TaskFactory(project=project, key="T1")
    second = TaskFactory(project=project, key="T2")
    assert claim(client, project).status_code == 201

    again = claim(client, project)

    assert again.status_code == 409
    assert AgentRun.objects.count() == 1
    second.refresh_from_db()
    assert (second.status, second.assigned_agent) == ("pending", None)


def test_claim_lease_length_is_validated(project, worker) -> None:
    _, client = worker
    TaskFactory(project=project)

    assert claim(client, project, lease_seconds=1).status_code == 400

    before = timezone.now()
    claimed = claim(client, project, lease_seconds=60)
    after = timezone.now()
    run = AgentRun.objects.get(pk=claimed.data["run"]["id"])
    lease = timedelta(seconds=60)
    assert before + lease <= run.lease_expires_at <= after + lease


def test_claim_takes_a_fixed_number_of_queries(project, django_assert_max_num_queries):
    plan = SubFeatureFactory(project=project)
    for n in range(20):
        TaskDependencyFactory(
            task=TaskFactory(project=project, key=f"B{n}", feature=plan.feature, sub_feature=plan),
            depends_on=TaskFactory(project=project, key=f"A{n}", status="done" if n else "pending"),
        )

    first, second, third = (external_agent(project, name)[1] for name in ("1st", "2nd", "3rd"))

    # The key, the agent's lock, the claim, the run and the agent, with the
    # transaction's two statements, and the memory facts; whatever the plan's size. On
    # PostgreSQL one statement opens the run, marks the agent busy and checks the agent
    # holds no other run; elsewhere those are three.
    fewer = 2 if connection.vendor == "postgresql" else 0
    with django_assert_max_num_queries(9 - fewer):
        assert claim(first, project).data["task"]["key"] == "A0"
    # A task with dependencies: the claim's second statement; the first task of a
    # waiting plan also puts the plan and its feature in progress. The claim read the
    # dependencies' keys and the plan's objective, context and must-haves for the answer.
    with django_assert_max_num_queries(12 - fewer):
        answer = claim(second, project).data
    assert (answer["task"]["key"], answer["task"]["depends_on"]) == ("B1", ["A1"])
    assert answer["plan"]["key"] == plan.key
    # A plan already in progress needs nothing more: the claim read its status.
    with django_assert_max_num_queries(10 - fewer):
        assert claim(third, project).data["task"]["key"].startswith("B")


def test_a_claim_by_an_agent_holding_a_live_run_changes_nothing(project, worker) -> None:
    """The claim that checks for a held run after taking a task rolls the task back."""
    agent, client = worker
    TaskFactory(project=project, key="T1")
    TaskFactory(project=project, key="T2")
    held = claim(client, project)
    assert held.status_code == 201

    refused = claim(client, project)

    assert refused.status_code == 409, refused.data
    assert AgentRun.objects.filter(agent=agent).count() == 1
    assert Task.objects.get(key="T2").status == "pending"
    agent.refresh_from_db()
    assert agent.current_task.key == held.data["task"]["key"]


def test_a_paused_project_hands_out_no_work(project):
    from agents.services.external import task_claim
    from tests.factories import AgentFactory, TaskFactory

    TaskFactory(project=project, key="A")
    agent = AgentFactory(project=project, type="external")
    project.status = "paused"
    project.save()
    assert task_claim(agent=agent) is None
    project.status = "active"
    project.save()
    assert task_claim(agent=agent).task.key == "A"
