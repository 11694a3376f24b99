import pytest
from rest_framework.test import APIClient

from agents import services as agent_services
from memory.models import MemoryFact
from planning.models import Project
from tests.factories import AgentFactory, AgentRunFactory, MemoryFactFactory

pytestmark = pytest.mark.django_db


def url(project: Project, *parts: object) -> str:
    tail = "".join(f"{part}/" for part in parts)
    return f"/api/v1/projects/{project.slug}/memory-facts/{tail}"


def test_fact_create_list_retrieve(api: APIClient, project) -> None:
    run = AgentRunFactory(agent__project=project)
    call = agent_services.tool_call_start(project=project, run=run, tool_name="shell")

    created = api.post(
        url(project),
        {
            "subject": "test command",
            "learned": "make test runs the suite on SQLite",
            "confidence": 0.9,
            "source": "Makefile",
            "agent": run.agent_id,
            "run": run.id,
            "tool_call": call.id,
        },
    )
    assert created.status_code == 201, created.data

    fact = MemoryFact.objects.get(pk=created.data["id"])
    assert fact.project == project
    assert fact.body == {
        "learned": "make test runs the suite on SQLite",
        "confidence": 0.9,
        "source": "Makefile",
    }
    assert fact.confidence == 0.9

    [listed] = api.get(url(project)).data["results"]
    assert listed["learned"] == "make test runs the suite on SQLite"
    assert (listed["confidence"], listed["source"]) == (0.9, "Makefile")
    detail = api.get(url(project, fact.id)).data
    assert (detail["agent"], detail["run"], detail["tool_call"]) == (run.agent_id, run.id, call.id)


def test_fact_update_and_delete(api: APIClient, project) -> None:
    fact = MemoryFactFactory(project=project, confidence=0.8)

    updated = api.patch(url(project, fact.id), {"confidence": 0.3, "is_stale": True})
    assert updated.status_code == 200, updated.data
    fact.refresh_from_db()
    assert (fact.confidence, fact.body["confidence"], fact.is_stale) == (0.3, 0.3, True)
    assert fact.body["learned"] == "pytest runs with -x"

    assert api.delete(url(project, fact.id)).status_code == 204
    assert not MemoryFact.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"subject": "s", "learned": "l", "confidence": 1.5, "source": "x"},
        {"subject": "s", "learned": "l", "confidence": -0.5, "source": "x"},
        {"subject": "s", "confidence": 0.5, "source": "x"},
        {"subject": "s", "learned": "l", "confidence": 0.5},
        {"subject": "s", "learned": "l", "source": "x"},
    ],
)
def test_invalid_facts_are_rejected(api: APIClient, project, body: dict) -> None:
    assert api.post(url(project), body).status_code == 400
    assert not MemoryFact.objects.exists()


def test_facts_filter_by_staleness_and_subject(api: APIClient, project) -> None:
    wanted = MemoryFactFactory(project=project, subject="Celery retries", is_stale=False)
    MemoryFactFactory(project=project, subject="Celery time limits", is_stale=True)
    MemoryFactFactory(project=project, subject="Django admin", is_stale=False)

    response = api.get(url(project), {"is_stale": "false", "subject": "celery"})

    assert [f["id"] for f in response.data["results"]] == [wanted.id]


def test_facts_list_most_confident_first(api: APIClient, project) -> None:
    low = MemoryFactFactory(project=project, confidence=0.2)
    high = MemoryFactFactory(project=project, confidence=0.95)

    response = api.get(url(project))

    assert [f["id"] for f in response.data["results"]] == [high.id, low.id]


def test_another_projects_facts_are_404(api: APIClient, project, other_project) -> None:
    foreign = MemoryFactFactory(project=other_project)
    MemoryFactFactory(project=None)  # global facts are not a project's

    assert api.get(url(other_project)).status_code == 404
    assert api.get(url(other_project, foreign.id)).status_code == 404
    assert api.get(url(project, foreign.id)).status_code == 404
    assert api.patch(url(project, foreign.id), {"is_stale": True}).status_code == 404
    assert api.get(url(project)).data["results"] == []


@pytest.mark.parametrize("field", ["agent", "run", "tool_call"])
def test_provenance_cannot_come_from_another_project(
    api: APIClient, project, other_project, field: str
) -> None:
    run = AgentRunFactory(agent__project=other_project)
    foreign = {
        "agent": run.agent_id,
        "run": run.id,
        "tool_call": agent_services.tool_call_start(
            project=other_project, run=run, tool_name="shell"
        ).id,
    }
    body = {"subject": "s", "learned": "l", "confidence": 0.5, "source": "x"}

    response = api.post(url(project), {**body, field: foreign[field]})

    assert response.status_code == 400
    assert field in response.data
    assert not MemoryFact.objects.exists()


def test_viewers_read_but_cannot_write(viewer_api: APIClient, project) -> None:
    fact = MemoryFactFactory(project=project)
    body = {"subject": "s", "learned": "l", "confidence": 0.5, "source": "x"}

    assert viewer_api.get(url(project)).status_code == 200
    assert viewer_api.post(url(project), body).status_code == 403
    assert viewer_api.patch(url(project, fact.id), {"is_stale": True}).status_code == 403
    assert viewer_api.delete(url(project, fact.id)).status_code == 403
    fact.refresh_from_db()
    assert fact.is_stale is False
    assert MemoryFact.objects.count() == 1


def test_deleting_an_agent_keeps_its_facts(api: APIClient, project) -> None:
    agent = AgentFactory(project=project)
    fact = MemoryFactFactory(project=project, agent=agent)

    assert api.delete(f"/api/v1/projects/{project.slug}/agents/{agent.id}/").status_code == 204

    assert api.get(url(project, fact.id)).data["agent"] is None
