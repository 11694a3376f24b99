"""External agents' runs over the API: heartbeats and leases, and fenced finishes."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Agent, AgentRun, Metric
from agents.services import runs
from tests.agents.external_agents import claim, external_agent, url
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(project) -> tuple[Agent, APIClient]:
    return external_agent(project)


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
