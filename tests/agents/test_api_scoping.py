"""Who sees and changes the agents API's rows: members of the project only, viewers
read-only, nothing linked across projects."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from agents import services
from agents.models import Agent, AgentRun, AgentState, DecisionLog, Metric, PlanningCycle, ToolCall
from planning.models import Project
from tests.agents.api_paths import url
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    AgentStateFactory,
    CheckpointFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


def _foreign_rows(other_project: Project) -> dict[str, int]:
    run = AgentRunFactory(agent__project=other_project)
    started = services.tool_call_start(project=other_project, run=run, tool_name="shell")
    return {
        "agents": run.agent_id,
        "agent-runs": run.id,
        "tool-calls": started.id,
        "decisions": services.decision_record(project=other_project, decision="d").id,
        "planning-cycles": services.planning_cycle_open(project=other_project).id,
        "metrics": services.metric_record(project=other_project, type="cost", value=1).id,
        "checkpoints": CheckpointFactory(project=other_project).id,
        "agent-state": AgentStateFactory(project=other_project).id,
    }


RESOURCES = [
    "agents",
    "agent-runs",
    "tool-calls",
    "decisions",
    "planning-cycles",
    "metrics",
    "checkpoints",
    "agent-state",
]


@pytest.mark.parametrize("resource", RESOURCES)
def test_another_projects_rows_are_404(
    api: APIClient, project, other_project, resource: str
) -> None:
    row_id = _foreign_rows(other_project)[resource]

    assert api.get(url(other_project, resource)).status_code == 404
    assert api.get(url(other_project, resource, row_id)).status_code == 404
    # Nor can the row be reached through a project the caller does belong to.
    assert api.get(url(project, resource, row_id)).status_code == 404
    assert api.get(url(project, resource)).data["results"] == []


def test_another_projects_calls_and_cycles_cannot_be_closed(
    api: APIClient, project, other_project
) -> None:
    rows = _foreign_rows(other_project)

    for slug_project in (project, other_project):
        complete = url(slug_project, "tool-calls", rows["tool-calls"], "complete")
        close = url(slug_project, "planning-cycles", rows["planning-cycles"], "close")
        assert api.post(complete, {"status": "succeeded"}).status_code == 404
        assert api.post(close, {"status": "completed"}).status_code == 404
    assert not ToolCall.objects.filter(started_id=rows["tool-calls"]).exists()


def _foreign_links(other_project: Project) -> dict[str, object]:
    run = AgentRunFactory(agent__project=other_project)
    return {
        "agent": run.agent_id,
        "run": run.id,
        "task": TaskFactory(project=other_project, key="FOREIGN-1").key,
        "planning_cycle": services.planning_cycle_open(project=other_project).id,
    }


ATTACHMENTS = [
    ("agents", {"name": "a", "type": "coder"}, "current_task", "task"),
    ("agent-runs", {}, "agent", "agent"),
    ("agent-runs", {"agent": "OWN_AGENT"}, "task", "task"),
    ("tool-calls", {"tool_name": "shell"}, "agent", "agent"),
    ("tool-calls", {"tool_name": "shell"}, "run", "run"),
    ("tool-calls", {"tool_name": "shell"}, "task", "task"),
    ("decisions", {"decision": "d"}, "agent", "agent"),
    ("decisions", {"decision": "d"}, "run", "run"),
    ("decisions", {"decision": "d"}, "task", "task"),
    ("decisions", {"decision": "d"}, "planning_cycle", "planning_cycle"),
    ("planning-cycles", {"goals": []}, "agent", "agent"),
    ("planning-cycles", {"goals": []}, "run", "run"),
    ("metrics", {"type": "cost", "value": 1}, "agent", "agent"),
    ("metrics", {"type": "cost", "value": 1}, "run", "run"),
    ("metrics", {"type": "cost", "value": 1}, "task", "task"),
]


@pytest.mark.parametrize(("resource", "body", "field", "link"), ATTACHMENTS)
def test_rows_cannot_link_to_another_projects_objects(
    api: APIClient,
    project,
    other_project,
    resource: str,
    body: dict,
    field: str,
    link: str,
) -> None:
    foreign = _foreign_links(other_project)
    own_agent = AgentFactory(project=project)
    body = {k: own_agent.id if v == "OWN_AGENT" else v for k, v in body.items()}
    before = _row_counts()

    response = api.post(url(project, resource), {**body, field: foreign[link]})

    assert response.status_code == 400
    assert field in response.data
    assert _row_counts() == before


def _row_counts() -> dict[str, int]:
    return {
        "agents": Agent.objects.count(),
        "runs": AgentRun.objects.count(),
        "tool_calls": ToolCall.objects.count(),
        "decisions": DecisionLog.objects.count(),
        "cycles": PlanningCycle.objects.count(),
        "metrics": Metric.objects.count(),
    }


WRITES: list[tuple[str, str, Callable[[Project], dict]]] = [
    ("post", "agents", lambda p: {"name": "a", "type": "coder"}),
    ("post", "agent-runs", lambda p: {"agent": AgentFactory(project=p).id}),
    ("post", "tool-calls", lambda p: {"tool_name": "shell"}),
    ("post", "decisions", lambda p: {"decision": "d"}),
    ("post", "planning-cycles", lambda p: {"goals": []}),
    ("post", "metrics", lambda p: {"type": "cost", "value": 1}),
    ("post", "checkpoints", lambda p: {"name": "c"}),
    ("post", "agent-state", lambda p: {"namespace": "n", "key": "k", "value": 1}),
]


@pytest.mark.parametrize(("method", "resource", "make_body"), WRITES)
def test_viewers_cannot_write(
    api: APIClient, viewer_api: APIClient, project, method: str, resource: str, make_body
) -> None:
    body = make_body(project)
    before = _row_counts()

    assert getattr(viewer_api, method)(url(project, resource), body).status_code == 403
    assert _row_counts() == before
    assert viewer_api.get(url(project, resource)).status_code == 200
    # The same request from an editor goes through, so the 403 is about the role.
    assert getattr(api, method)(url(project, resource), body).status_code == 201


def test_viewers_cannot_change_or_close_anything(viewer_api: APIClient, project) -> None:
    agent = AgentFactory(project=project)
    started = services.tool_call_start(project=project, tool_name="shell")
    cycle = services.planning_cycle_open(project=project)

    responses = [
        viewer_api.patch(url(project, "agents", agent.id), {"status": "terminated"}),
        viewer_api.delete(url(project, "agents", agent.id)),
        viewer_api.post(url(project, "tool-calls", started.id, "complete"), {"status": "failed"}),
        viewer_api.post(
            url(project, "planning-cycles", cycle.id, "close"), {"status": "abandoned"}
        ),
        viewer_api.put(url(project, "agent-state", "ns", "k"), {"value": 1}),
    ]

    assert [r.status_code for r in responses] == [403] * len(responses)
    agent.refresh_from_db()
    assert agent.status == "idle"
    assert ToolCall.objects.count() == 1
    assert not AgentState.objects.exists()


def test_anonymous_callers_are_refused(project) -> None:
    response = APIClient().get(url(project, "agents"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
