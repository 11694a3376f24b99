"""Memory, state and questions to a person through an agent key."""

import pytest
from rest_framework.test import APIClient

from agents.models import AgentRun, AgentState
from memory.models import MemoryFact
from planning.models import Task
from tests.agents.test_api_agent_plan import external_agent, url
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_an_agent_remembers_and_recalls_facts_with_their_provenance(project):
    agent, client = external_agent(project)
    TaskFactory(project=project, key="T1")
    run_id = client.post(url(project, "tasks/claim/"), {}, format="json").data["run"]["id"]

    remembered = client.post(
        url(project, "agent/memory/"),
        {"subject": "Test runner", "learned": "Use pytest -p no:cacheprovider", "run": run_id},
        format="json",
    )
    client.post(
        url(project, "agent/memory/"), {"subject": "Style", "learned": "ruff"}, format="json"
    )

    assert remembered.status_code == 201, remembered.data
    fact = MemoryFact.objects.get(subject="Test runner")
    assert (fact.agent, fact.run_id, fact.project) == (agent, run_id, project)
    recalled = client.get(url(project, "agent/memory/"), {"q": "pytest"})
    assert [f["subject"] for f in recalled.data["results"]] == ["Test runner"]
    assert len(client.get(url(project, "agent/memory/")).data["results"]) == 2


def test_a_fact_with_a_bad_confidence_or_another_projects_run_is_refused(project, other_project):
    _, client = external_agent(project)
    _, other_client = external_agent(other_project, "elsewhere")
    TaskFactory(project=other_project, key="T1")
    other_run = other_client.post(url(other_project, "tasks/claim/"), {}, format="json").data[
        "run"
    ]["id"]

    bad = client.post(
        url(project, "agent/memory/"),
        {"subject": "x", "learned": "y", "confidence": 2},
        format="json",
    )
    foreign = client.post(
        url(project, "agent/memory/"),
        {"subject": "x", "learned": "y", "run": other_run},
        format="json",
    )

    assert (bad.status_code, foreign.status_code) == (400, 404)
    assert not MemoryFact.objects.exists()


def test_an_agent_keeps_state_of_its_own(project):
    _, client = external_agent(project)
    _, other = external_agent(project, "claude-2")

    written = client.put(
        url(project, "agent/state/progress/"), {"value": {"step": 3}}, format="json"
    )

    assert written.status_code == 200 and written.data["namespace"] == "agent:claude-1"
    assert client.get(url(project, "agent/state/progress/")).data["value"] == {"step": 3}
    assert [e["key"] for e in client.get(url(project, "agent/state/")).data] == ["progress"]
    # Another agent's state is not its own.
    assert other.get(url(project, "agent/state/progress/")).status_code == 404
    client.put(url(project, "agent/state/progress/"), {"value": 4}, format="json")
    assert AgentState.objects.get().value == 4


def test_asking_a_person_makes_a_checkpoint_the_task_waits_on(project, api: APIClient):
    _, client = external_agent(project)
    TaskFactory(project=project, key="T1")
    run_id = client.post(url(project, "tasks/claim/"), {}, format="json").data["run"]["id"]

    asked = client.post(
        url(project, f"runs/{run_id}/questions/"),
        {"question": "Keep the old parser?", "options": ["keep", "replace"]},
        format="json",
    )

    assert asked.status_code == 201, asked.data
    checkpoint = asked.data["checkpoint"]
    assert (checkpoint["key"], checkpoint["type"]) == ("T1.Q1", "checkpoint:decision")
    assert Task.objects.get(key="T1").depends_on.get().key == "T1.Q1"
    inbox = api.get(url(project, "human-checkpoints/"))
    assert "T1.Q1" in str(inbox.data)
    waiting = client.get(url(project, "agent/questions/T1.Q1/"))
    assert waiting.data["answered"] is False and waiting.data["answer"] is None

    answered = api.post(
        url(project, "human-checkpoints/T1.Q1/answer/"),
        {"approved": True, "choice": "2", "note": "go"},
        format="json",
    )
    assert answered.status_code == 200, answered.data

    answer = client.get(url(project, "agent/questions/T1.Q1/")).data
    assert answer["answered"] is True
    assert answer["answer"] == {
        "approved": True,
        "choice": "2",
        "note": "go",
        "by": project.owner.username,
    }


def test_only_the_agent_holding_a_run_asks_in_its_name(project):
    _, client = external_agent(project)
    _, other = external_agent(project, "claude-2")
    TaskFactory(project=project, key="T1")
    run_id = client.post(url(project, "tasks/claim/"), {}, format="json").data["run"]["id"]

    refused = other.post(
        url(project, f"runs/{run_id}/questions/"), {"question": "?"}, format="json"
    )

    assert refused.status_code == 409
    assert Task.objects.count() == 1
    assert AgentRun.objects.get().status == AgentRun.Status.RUNNING
