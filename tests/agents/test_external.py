"""External agents over the API: keys, claims under a lease, reports, and fenced finishes."""

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from agents import services
from agents.models import Agent, AgentRun, DecisionLog, Metric, ToolCall
from agents.services import runs
from core.errors import ConflictError, PermissionDeniedError
from planning import selectors as planning_selectors
from planning.models import Project, Task
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    FeatureFactory,
    MembershipFactory,
    SubFeatureFactory,
    TaskDependencyFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


def url(project: Project, path: str) -> str:
    return f"/api/v1/projects/{project.slug}/{path}"


def agent_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {key}")
    return client


def external_agent(project: Project, name: str = "claude-1") -> tuple[Agent, APIClient]:
    agent = AgentFactory(project=project, name=name, type=Agent.Type.EXTERNAL)
    issued = services.agent_key_issue(agent=agent)
    return agent, agent_client(issued.key)


@pytest.fixture
def worker(project) -> tuple[Agent, APIClient]:
    return external_agent(project)


def claim(client: APIClient, project: Project, **body: object):
    return client.post(url(project, "tasks/claim/"), body, format="json")


# Keys ---------------------------------------------------------------------------------


def test_a_key_is_shown_once_and_only_its_hash_is_stored(api: APIClient, project) -> None:
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)

    issued = api.post(url(project, f"agents/{agent.pk}/key/"))

    assert issued.status_code == 201, issued.data
    key = issued.data["key"]
    assert key.startswith("cbk_") and len(key) > 40
    agent.refresh_from_db()
    assert agent.api_key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert agent.api_key_prefix == issued.data["prefix"] == key[:12]
    detail = api.get(url(project, f"agents/{agent.pk}/"))
    assert key not in str(detail.content)
    assert agent_client(key).post(url(project, "agents/heartbeat/")).status_code == 200


def test_issuing_a_new_key_replaces_the_old_one(api: APIClient, project) -> None:
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    old = api.post(url(project, f"agents/{agent.pk}/key/")).data["key"]

    new = api.post(url(project, f"agents/{agent.pk}/key/")).data["key"]

    assert new != old
    assert agent_client(old).post(url(project, "agents/heartbeat/")).status_code == 401
    assert agent_client(new).post(url(project, "agents/heartbeat/")).status_code == 200


def test_a_revoked_key_stops_working(api: APIClient, project, worker) -> None:
    agent, client = worker

    assert api.delete(url(project, f"agents/{agent.pk}/key/")).status_code == 204

    assert client.post(url(project, "agents/heartbeat/")).status_code == 401


def test_only_owners_and_editors_issue_keys(
    api: APIClient, viewer_api: APIClient, project, other_project
) -> None:
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    foreign = AgentFactory(project=other_project, type=Agent.Type.EXTERNAL)
    editor = APIClient()
    editor.force_authenticate(MembershipFactory(project=project, role="editor").user)

    assert viewer_api.post(url(project, f"agents/{agent.pk}/key/")).status_code == 403
    assert api.post(url(other_project, f"agents/{foreign.pk}/key/")).status_code == 404
    assert api.post(url(project, f"agents/{foreign.pk}/key/")).status_code == 404
    assert editor.post(url(project, f"agents/{agent.pk}/key/")).status_code == 201
    agent.refresh_from_db()
    foreign.refresh_from_db()
    assert foreign.api_key_hash == ""


def test_built_in_agents_get_no_key(api: APIClient, project) -> None:
    coder = AgentFactory(project=project, type=Agent.Type.CODER)

    response = api.post(url(project, f"agents/{coder.pk}/key/"))

    assert response.status_code == 400
    coder.refresh_from_db()
    assert coder.api_key_hash == ""


def test_wrong_missing_or_terminated_keys_are_refused(project, worker) -> None:
    TaskFactory(project=project)
    agent, client = worker

    assert claim(agent_client("cbk_not-a-key"), project).status_code == 401
    assert claim(APIClient(), project).status_code == 401
    malformed = APIClient()
    malformed.credentials(HTTP_AUTHORIZATION="Agent")
    assert claim(malformed, project).status_code == 401
    # A person's session is not an agent key.
    person = APIClient()
    person.force_login(project.owner)
    assert claim(person, project).status_code == 401
    services.agent_terminate(agent=agent, reason="done")
    assert claim(client, project).status_code == 403
    assert not AgentRun.objects.exists()


def test_an_agent_key_opens_only_its_own_project(project, other_project, worker) -> None:
    TaskFactory(project=other_project)
    foreign_run = AgentRunFactory(agent=AgentFactory(project=other_project))
    _, client = worker

    assert claim(client, other_project).status_code == 404
    assert client.post(url(other_project, "agents/heartbeat/")).status_code == 404
    reported = client.post(
        url(project, f"runs/{foreign_run.pk}/decisions/"), {"decision": "x"}, format="json"
    )
    assert reported.status_code == 404
    assert not AgentRun.objects.filter(project=other_project).exclude(pk=foreign_run.pk).exists()
    assert not DecisionLog.objects.exists()


# Claims -------------------------------------------------------------------------------


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


# Heartbeats and leases ----------------------------------------------------------------


def test_heartbeat_extends_the_lease(project, worker) -> None:
    agent, client = worker
    TaskFactory(project=project)
    run_id = claim(client, project, lease_seconds=120).data["run"]["id"]
    almost_over = timezone.now() + timedelta(seconds=5)
    AgentRun.objects.filter(pk=run_id).update(lease_expires_at=almost_over)

    beat = client.post(url(project, "agents/heartbeat/"), format="json")

    assert beat.status_code == 200, beat.data
    run = AgentRun.objects.get(pk=run_id)
    assert run.lease_expires_at > almost_over + timedelta(seconds=100)
    assert beat.data["run"]["id"] == run_id
    assert beat.data["status"] == "busy"
    agent.refresh_from_db()
    assert agent.last_activity_at is not None and run.heartbeat_at is not None


def test_heartbeat_without_a_run_marks_the_agent_alive(project, worker) -> None:
    agent, client = worker

    beat = client.post(url(project, "agents/heartbeat/"))

    assert beat.status_code == 200
    assert beat.data["run"] is None
    agent.refresh_from_db()
    assert agent.last_activity_at is not None


def test_heartbeat_after_the_lease_expired_is_409_and_releases_the_task(project, worker) -> None:
    _, client = worker
    task = TaskFactory(project=project)
    run_id = claim(client, project).data["run"]["id"]
    AgentRun.objects.filter(pk=run_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    beat = client.post(url(project, "agents/heartbeat/"))

    assert beat.status_code == 409
    run = AgentRun.objects.get(pk=run_id)
    assert (run.status, run.error, run.lease_expires_at) == ("failed", "lease expired", None)
    task.refresh_from_db()
    assert (task.status, task.assigned_agent) == ("pending", None)


def test_stale_leases_expire_and_a_late_completion_is_refused(
    project, worker, django_capture_on_commit_callbacks
) -> None:
    agent, client = worker
    task = TaskFactory(project=project, key="T1")
    TaskFactory(project=project, key="T2")
    run_id = claim(client, project).data["run"]["id"]
    _, other_client = external_agent(project, "healthy")
    healthy_id = claim(other_client, project).data["run"]["id"]
    # A built-in agent's stale run is the orchestrator's to re-deliver, not to fail.
    built_in = AgentRunFactory(
        agent=AgentFactory(project=project, type="coder"),
        status="running",
        lease_expires_at=timezone.now() - timedelta(hours=1),
    )
    AgentRun.objects.filter(pk=run_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    with django_capture_on_commit_callbacks() as callbacks:
        assert runs.stale_leases_expire() == 1

    assert len(callbacks) == 1  # a dispatch: the task is free again
    run = AgentRun.objects.get(pk=run_id)
    assert (run.status, run.error) == ("failed", "lease expired")
    task.refresh_from_db()
    assert (task.status, task.assigned_agent) == ("pending", None)
    agent.refresh_from_db()
    assert (agent.status, agent.current_task) == ("idle", None)
    assert AgentRun.objects.get(pk=healthy_id).status == "running"
    built_in.refresh_from_db()
    assert built_in.status == "running"

    late = client.post(url(project, f"runs/{run_id}/complete/"), {"attempt": 1}, format="json")

    assert late.status_code == 409
    run.refresh_from_db()
    task.refresh_from_db()
    assert (run.status, task.status) == ("failed", "pending")
    assert not Metric.objects.filter(run_id=run_id, type="task_duration").exists()
    assert Metric.objects.filter(run_id=run_id, type="run_duration").exists()  # the expiry
    again = claim(client, project)
    assert again.data["task"]["key"] == "T1"
    assert again.data["run"]["attempt"] == 2


def test_an_expired_lease_does_not_block_the_agents_next_claim(project, worker) -> None:
    _, client = worker
    TaskFactory(project=project, key="T1")
    first = claim(client, project).data["run"]["id"]
    AgentRun.objects.filter(pk=first).update(lease_expires_at=timezone.now())

    again = claim(client, project)

    assert again.status_code == 201
    assert again.data["run"]["attempt"] == 2
    assert AgentRun.objects.get(pk=first).error == "lease expired"


# Completing and failing ---------------------------------------------------------------


def test_complete_finishes_the_run_the_task_and_frees_the_agent(
    project, worker, django_capture_on_commit_callbacks
) -> None:
    agent, client = worker
    task = TaskFactory(project=project)
    run_id = claim(client, project).data["run"]["id"]

    with django_capture_on_commit_callbacks() as callbacks:
        done = client.post(
            url(project, f"runs/{run_id}/complete/"),
            {"attempt": 1, "result": {"commit": "abc123"}},
            format="json",
        )
    assert len(callbacks) == 1  # the project's next dispatch, as a built-in run's end does

    assert done.status_code == 200, done.data
    assert done.data["task"]["status"] == "done"
    run = AgentRun.objects.get(pk=run_id)
    assert (run.status, run.result) == ("succeeded", {"commit": "abc123"})
    # An ended run holds no lease, as a built-in agent's ended run does not.
    assert run.finished_at is not None and run.lease_expires_at is None
    task.refresh_from_db()
    assert task.status == "done" and task.completed_at >= task.started_at
    assert task.assigned_agent is None
    agent.refresh_from_db()
    assert (agent.status, agent.current_task) == ("idle", None)
    duration = Metric.objects.get(run=run, type="task_duration")
    assert duration.task_id == task.pk
    assert {"run_duration", "qa_iterations"} <= set(
        Metric.objects.filter(run=run).values_list("type", flat=True)
    )
    assert duration.value == pytest.approx((run.finished_at - run.started_at).total_seconds())


@pytest.mark.parametrize(
    "body",
    [{"attempt": 2}, {"attempt": 1, "stale": "lease"}],
    ids=["wrong attempt", "expired lease"],
)
def test_a_fenced_completion_is_409_and_changes_nothing(project, worker, body) -> None:
    agent, client = worker
    task = TaskFactory(project=project)
    run_id = claim(client, project).data["run"]["id"]
    if body.pop("stale", None):
        AgentRun.objects.filter(pk=run_id).update(lease_expires_at=timezone.now())
    before = AgentRun.objects.get(pk=run_id)

    for action in ("complete", "fail"):
        response = client.post(
            url(project, f"runs/{run_id}/{action}/"), {**body, "error": "x"}, format="json"
        )
        assert response.status_code == 409, response.data

    run = AgentRun.objects.get(pk=run_id)
    assert (run.status, run.finished_at, run.updated_at) == ("running", None, before.updated_at)
    task.refresh_from_db()
    agent.refresh_from_db()
    assert (task.status, task.assigned_agent_id) == ("in_progress", agent.pk)
    assert agent.status == "busy"
    assert not Metric.objects.exists()


def test_only_the_holder_finishes_a_run(project, worker) -> None:
    _, client = worker
    TaskFactory(project=project)
    run_id = claim(client, project).data["run"]["id"]
    _, intruder = external_agent(project, "intruder")

    response = intruder.post(url(project, f"runs/{run_id}/complete/"), {"attempt": 1})

    assert response.status_code == 409
    assert AgentRun.objects.get(pk=run_id).status == "running"


def test_fail_puts_the_task_back_and_the_next_claim_is_attempt_2(project, worker) -> None:
    agent, client = worker
    task = TaskFactory(project=project)
    run_id = claim(client, project).data["run"]["id"]

    failed = client.post(
        url(project, f"runs/{run_id}/fail/"), {"attempt": 1, "error": "tests red"}, format="json"
    )

    assert failed.status_code == 200, failed.data
    run = AgentRun.objects.get(pk=run_id)
    assert (run.status, run.error) == ("failed", "tests red")
    task.refresh_from_db()
    assert (task.status, task.assigned_agent) == ("pending", None)
    agent.refresh_from_db()
    assert agent.status == "idle"
    _, other = external_agent(project, "second-opinion")
    retry = claim(other, project)
    assert retry.status_code == 201
    assert retry.data["task"]["key"] == task.key
    assert retry.data["run"]["attempt"] == 2


# Reports ------------------------------------------------------------------------------


@pytest.fixture
def running(project, worker) -> tuple[AgentRun, APIClient]:
    TaskFactory(project=project)
    _, client = worker
    run_id = claim(client, project).data["run"]["id"]
    return AgentRun.objects.get(pk=run_id), client


def tool_call(call_id: str, **fields: object) -> dict:
    return {"call_id": call_id, "tool_name": "run_tests", "input": {"path": "tests/"}, **fields}


def test_a_batch_of_three_writes_three_starts_and_their_completions(project, running) -> None:
    run, client = running
    batch = [
        tool_call("c1", status="succeeded", output={"passed": 10}, duration_ms=12),
        tool_call("c2", status="failed", error="boom", duration_ms=3),
        tool_call("c3", status="succeeded", output=None),
    ]

    response = client.post(url(project, f"runs/{run.pk}/tool-calls/"), batch, format="json")

    assert response.status_code == 201, response.data
    assert response.data["written"] == 6
    started = ToolCall.objects.filter(run=run, started__isnull=True).order_by("id")
    assert [c.call_id for c in started] == ["c1", "c2", "c3"]
    assert {(c.agent_id, c.task_id, c.step) for c in started} == {(run.agent_id, run.task_id, None)}
    completions = {c.started.call_id: c for c in ToolCall.objects.filter(started__run=run)}
    assert completions["c1"].output == {"passed": 10} and completions["c1"].duration_ms == 12
    assert (completions["c2"].status, completions["c2"].error) == ("failed", "boom")
    assert [item["completion_id"] for item in response.data["tool_calls"]] == [
        completions[c].pk for c in ("c1", "c2", "c3")
    ]


def test_nul_characters_in_a_report_are_a_400_and_nothing_is_written(project, running) -> None:
    run, client = running
    endpoint = url(project, f"runs/{run.pk}/tool-calls/")
    batch = [
        tool_call("c1", status="succeeded"),
        tool_call("c2", input={"path": "a\u0000b"}, status="succeeded"),
    ]

    response = client.post(endpoint, batch, format="json")

    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert not ToolCall.objects.filter(run=run).exists()


def test_a_start_then_a_later_completion_of_the_same_call(project, running) -> None:
    run, client = running
    endpoint = url(project, f"runs/{run.pk}/tool-calls/")

    started = client.post(endpoint, tool_call("c1"), format="json")
    assert started.status_code == 201, started.data
    assert started.data["tool_calls"][0]["completion_id"] is None
    completed = client.post(
        endpoint, {"call_id": "c1", "status": "succeeded", "output": "ok"}, format="json"
    )

    assert completed.status_code == 201, completed.data
    assert completed.data["written"] == 1
    assert ToolCall.objects.filter(run=run, started__isnull=True).count() == 1
    completion = ToolCall.objects.get(run=run, started__isnull=False)
    assert completion.started_id == started.data["tool_calls"][0]["id"]
    assert completion.tool_name == "run_tests"


def test_a_replayed_batch_writes_nothing_new(project, running) -> None:
    run, client = running
    endpoint = url(project, f"runs/{run.pk}/tool-calls/")
    batch = [tool_call("c1", status="succeeded"), tool_call("c2")]
    first = client.post(endpoint, batch, format="json")

    again = client.post(endpoint, batch, format="json")

    assert again.status_code == 201
    assert again.data["written"] == 0
    assert again.data["tool_calls"] == first.data["tool_calls"]
    assert ToolCall.objects.filter(run=run).count() == 3


@pytest.mark.parametrize(
    "bad",
    [
        tool_call("c3", status="bogus"),
        tool_call("c3", duration_ms=-1, status="succeeded"),
        {"call_id": "c3", "status": "succeeded"},  # never started, no tool_name
        tool_call("c3", output="only with a status"),
        "not an object",
    ],
    ids=["status", "duration", "unstarted", "output without status", "not an object"],
)
def test_one_bad_item_rejects_the_whole_batch(project, running, bad) -> None:
    run, client = running
    batch = [tool_call("c1", status="succeeded"), tool_call("c2"), bad]

    response = client.post(url(project, f"runs/{run.pk}/tool-calls/"), batch, format="json")

    assert response.status_code == 400
    assert list(response.data["items"]) == ["2"]
    assert "Item 2" in response.data["detail"]
    assert not ToolCall.objects.exists()


def test_decisions_and_metrics_in_batches_and_singly(project, running) -> None:
    run, client = running

    decisions = client.post(
        url(project, f"runs/{run.pk}/decisions/"),
        [
            {"decision": "Use SQLite for tests"},
            {"decision": "Skip the flaky test", "reasoning": {"why": "x"}},
        ],
        format="json",
    )
    metric = client.post(
        url(project, f"runs/{run.pk}/metrics/"),
        {"type": "qa_iterations", "value": 2, "metadata": {"suite": "unit"}},
        format="json",
    )

    assert decisions.status_code == 201, decisions.data
    assert decisions.data["written"] == 2
    assert list(
        DecisionLog.objects.filter(run=run, task=run.task, agent=run.agent)
        .order_by("id")
        .values_list("decision", flat=True)
    ) == ["Use SQLite for tests", "Skip the flaky test"]
    assert metric.status_code == 201, metric.data
    assert Metric.objects.get(pk=metric.data["ids"][0]).value == 2


def test_a_bad_metric_or_decision_rejects_its_batch(project, running) -> None:
    run, client = running

    metrics = client.post(
        url(project, f"runs/{run.pk}/metrics/"),
        [{"type": "cost", "value": 0.1}, {"type": "vibes", "value": 1}],
        format="json",
    )
    decisions = client.post(
        url(project, f"runs/{run.pk}/decisions/"),
        [{"decision": "ok"}, {"decision": ""}],
        format="json",
    )

    assert metrics.status_code == 400 and list(metrics.data["items"]) == ["1"]
    assert decisions.status_code == 400 and list(decisions.data["items"]) == ["1"]
    assert not Metric.objects.exists() and not DecisionLog.objects.exists()


def test_reports_on_another_agents_run_are_refused(project, running) -> None:
    run, _ = running
    _, other = external_agent(project, "other")

    response = other.post(url(project, f"runs/{run.pk}/decisions/"), {"decision": "mine now"})

    assert response.status_code == 403
    assert not DecisionLog.objects.exists()


def test_an_empty_or_oversized_batch_is_refused(project, running) -> None:
    run, client = running
    endpoint = url(project, f"runs/{run.pk}/tool-calls/")

    assert client.post(endpoint, [], format="json").status_code == 400
    too_many = [tool_call(f"c{i}") for i in range(1001)]
    assert client.post(endpoint, too_many, format="json").status_code == 400
    assert not ToolCall.objects.exists()


def test_a_persons_token_is_not_an_agent_key(project) -> None:
    TaskFactory(project=project)
    token = Token.objects.create(user=project.owner)
    person = APIClient()
    person.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert claim(person, project).status_code == 401
    assert Task.objects.get().status == "pending"


def test_a_batch_costs_the_same_queries_whatever_its_size(project, running) -> None:
    run, client = running
    endpoint = url(project, f"runs/{run.pk}/tool-calls/")
    queries = {}

    for size in (3, 60):
        batch = [tool_call(f"n{size}-{i}", status="succeeded") for i in range(size)]
        with CaptureQueriesContext(connection) as captured:
            assert client.post(endpoint, batch, format="json").status_code == 201
        queries[size] = len(captured)

    assert queries[60] == queries[3]
    assert ToolCall.objects.filter(run=run).count() == 2 * 63


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
    # A task with dependencies: the claim's second statement, and its dependencies' keys;
    # the first task of a waiting plan also puts the plan and its feature in progress.
    # The plan's objective, context and must-haves for the answer: one more.
    with django_assert_max_num_queries(14 - fewer):
        assert claim(second, project).data["task"]["key"] == "B1"
    # A plan already in progress needs nothing more: the claim read its status.
    with django_assert_max_num_queries(12 - fewer):
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


def test_an_issued_key_stays_out_of_its_repr(project) -> None:
    agent, _ = external_agent(project, "quiet")
    issued = services.agent_key_issue(agent=agent)
    assert issued.key not in repr(issued)


@pytest.mark.parametrize("change", ["issue", "revoke"])
def test_a_key_change_for_an_agent_deleted_meanwhile_is_a_conflict(project, change) -> None:
    stale = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    Agent.objects.filter(pk=stale.pk).delete()

    with pytest.raises(ConflictError, match="has been deleted"):
        (services.agent_key_issue if change == "issue" else services.agent_key_revoke)(agent=stale)
