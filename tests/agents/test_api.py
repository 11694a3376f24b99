"""The agents API: agents, runs and checkpoints."""

import pytest
from rest_framework.test import APIClient

from agents import services
from agents.models import Agent, AgentRun, Checkpoint
from tests.agents.api_paths import url
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_agent_create_list_retrieve(api: APIClient, project) -> None:
    task = TaskFactory(project=project, key="01-01-T1")

    created = api.post(
        url(project, "agents"),
        {"name": "coder-1", "type": "coder", "model": "qwen", "current_task": "01-01-T1"},
    )
    assert created.status_code == 201, created.data
    assert created.data["current_task"] == task.key
    assert created.data["status"] == "idle"

    listed = api.get(url(project, "agents"))
    assert [a["name"] for a in listed.data["results"]] == ["coder-1"]
    detail = api.get(url(project, "agents", created.data["id"]))
    assert detail.data["model"] == "qwen"


def test_agents_filter_by_type_and_status(api: APIClient, project) -> None:
    AgentFactory(project=project, name="p", type="planner")
    AgentFactory(project=project, name="c1", type="coder", status="busy")
    AgentFactory(project=project, name="c2", type="coder")

    response = api.get(url(project, "agents"), {"type": "coder", "status": "busy"})

    assert [a["name"] for a in response.data["results"]] == ["c1"]


def test_terminating_an_agent_over_the_api_stamps_terminated_at(api: APIClient, project) -> None:
    agent = AgentFactory(project=project)

    terminated = api.patch(
        url(project, "agents", agent.id),
        {"status": "terminated", "termination_reason": "budget spent"},
    )
    assert terminated.status_code == 200, terminated.data
    assert terminated.data["terminated_at"] is not None

    revived = api.patch(url(project, "agents", agent.id), {"status": "idle"})
    assert revived.status_code == 200, revived.data
    assert revived.data["terminated_at"] is None
    agent.refresh_from_db()
    assert (agent.status, agent.terminated_at) == ("idle", None)


def test_deleting_an_agent_without_history_works(api: APIClient, project) -> None:
    agent = AgentFactory(project=project)
    assert api.delete(url(project, "agents", agent.id)).status_code == 204
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_deleting_an_agent_with_tool_calls_is_a_conflict(api: APIClient, project) -> None:
    agent = AgentFactory(project=project)
    services.tool_call_start(project=project, agent=agent, tool_name="shell")

    response = api.delete(url(project, "agents", agent.id))

    assert response.status_code == 409
    assert "tool calls" in response.data["detail"]
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_duplicate_agent_name_is_a_400(api: APIClient, project) -> None:
    AgentFactory(project=project, name="coder-1")
    response = api.post(url(project, "agents"), {"name": "coder-1", "type": "coder"})
    assert response.status_code == 400


def test_run_create_list_retrieve(api: APIClient, project) -> None:
    agent = AgentFactory(project=project)
    TaskFactory(project=project, key="T1")

    created = api.post(url(project, "agent-runs"), {"agent": agent.id, "task": "T1"})
    assert created.status_code == 201, created.data
    assert created.data["idempotency_key"]
    assert created.data["status"] == "queued"

    listed = api.get(url(project, "agent-runs"))
    assert [r["id"] for r in listed.data["results"]] == [created.data["id"]]
    detail = api.get(url(project, "agent-runs", created.data["id"]))
    assert detail.data["task"] == "T1"


def test_a_repeated_idempotency_key_is_a_409(api: APIClient, project) -> None:
    agent = AgentFactory(project=project)
    body = {"agent": agent.id, "idempotency_key": "T1:attempt-1"}

    assert api.post(url(project, "agent-runs"), body).status_code == 201
    again = api.post(url(project, "agent-runs"), body)

    assert again.status_code == 409
    assert AgentRun.objects.count() == 1


def test_another_projects_idempotency_key_is_not_a_conflict(
    api: APIClient, project, other_project
) -> None:
    """Keys are per project: another project's run neither blocks nor reveals one."""
    AgentRunFactory(agent__project=other_project, idempotency_key="T1:attempt-1")
    body = {"agent": AgentFactory(project=project).id, "idempotency_key": "T1:attempt-1"}

    assert api.post(url(project, "agent-runs"), body).status_code == 201
    assert AgentRun.objects.filter(idempotency_key="T1:attempt-1").count() == 2


def test_runs_filter_by_agent_and_status(api: APIClient, project) -> None:
    run = AgentRunFactory(agent__project=project, status="running")
    AgentRunFactory(agent=run.agent, status="queued")
    AgentRunFactory(agent__project=project, status="running")

    response = api.get(url(project, "agent-runs"), {"agent": run.agent_id, "status": "running"})

    assert [r["id"] for r in response.data["results"]] == [run.id]


def test_runs_cannot_be_edited_or_deleted(api: APIClient, project) -> None:
    run = AgentRunFactory(agent__project=project)
    for method in ("put", "patch", "delete"):
        assert getattr(api, method)(url(project, "agent-runs", run.id), {}).status_code == 405


def test_checkpoint_create_list_retrieve_rename_delete(api: APIClient, project) -> None:
    created = api.post(
        url(project, "checkpoints"),
        {"name": "before merge", "state": {"tasks": {"T1": "done"}}, "git_commit": "abc123"},
    )
    assert created.status_code == 201, created.data
    checkpoint_url = url(project, "checkpoints", created.data["id"])

    assert [c["name"] for c in api.get(url(project, "checkpoints")).data["results"]] == [
        "before merge"
    ]
    # The state and commit are captured from the project, never taken from the client.
    state = api.get(checkpoint_url).data["state"]
    assert (state["format"], state["tasks"], created.data["git_commit"]) == (1, {}, "")

    renamed = api.patch(checkpoint_url, {"name": "pre-merge", "state": {"tasks": {}}})
    assert renamed.status_code == 200, renamed.data
    assert renamed.data["name"] == "pre-merge"
    assert renamed.data["state"] == state  # the capture does not change
    assert api.put(checkpoint_url, {"name": "x"}).status_code == 405

    assert api.delete(checkpoint_url).status_code == 204
    assert not Checkpoint.objects.exists()
