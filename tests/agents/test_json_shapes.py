"""The agents models' JSON fields keep their declared shapes: external agents' reports, the
API, the admin and the agent tools all refuse a wrong one, naming the field."""

import json

import pytest
from django.urls import reverse

from agents import services
from agents.models import AgentState, AgentStep, DecisionLog, Metric, PlanningCycle, ToolCall
from agents.runtime.calls import _call_tool
from agents.services import runs
from agents.tools import registry
from core.errors import DomainError
from memory.models import MemoryFact
from memory.services import memory_fact_create
from planning.models import Project
from tests.agents.external_agents import claim, external_agent, tool_call, url
from tests.agents.views.test_agents import HTMX, executor_url
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(project):
    TaskFactory(project=project)
    _, client = external_agent(project)
    run_id = claim(client, project).data["run"]["id"]
    return run_id, client


def test_a_tool_call_report_with_a_bad_input_is_400_and_writes_nothing(project, running):
    run_id, client = running
    batch = [tool_call("c1", status="succeeded"), tool_call("c2", input=5)]
    response = client.post(url(project, f"runs/{run_id}/tool-calls/"), batch, format="json")
    assert response.status_code == 400
    assert response.data["items"] == {"1": {"input": ["expected an object, not a number (5)"]}}
    assert not ToolCall.objects.exists()


def test_a_tool_call_output_over_its_cap_is_refused(project, running):
    run_id, client = running
    batch = [tool_call("c1", status="succeeded", output=list(range(100_001)))]
    response = client.post(url(project, f"runs/{run_id}/tool-calls/"), batch, format="json")
    assert response.status_code == 400
    assert response.data["items"] == {"0": {"output": ["at most 100000 items, not 100001"]}}


@pytest.mark.parametrize(
    ("path", "item", "field"),
    [
        ("decisions", {"decision": "Use SQLite", "reasoning": "because"}, "reasoning"),
        ("decisions", {"decision": "Use SQLite", "reasoning": [1]}, "reasoning"),
        ("metrics", {"type": "latency", "value": 1, "metadata": "x"}, "metadata"),
    ],
)
def test_decision_and_metric_reports_of_the_wrong_shape_write_nothing(
    project, running, path, item, field
):
    run_id, client = running
    good = {"decision": "ok"} if path == "decisions" else {"type": "latency", "value": 2}
    response = client.post(url(project, f"runs/{run_id}/{path}/"), [good, item], format="json")
    assert response.status_code == 400, response.data
    assert response.data["items"]["1"][field][0].startswith("expected an object")
    assert not DecisionLog.objects.exists()
    assert not Metric.objects.filter(type="latency").exists()


def test_agent_state_over_the_api_is_capped(api, project):
    response = api.post(
        url(project, "agent-state/"),
        {"namespace": "n", "key": "k", "value": list(range(10_001))},
        format="json",
    )
    assert response.status_code == 400
    assert response.data["value"] == ["at most 10000 items, not 10001"]
    assert not AgentState.objects.exists()
    ok = api.post(
        url(project, "agent-state/"), {"namespace": "n", "key": "k", "value": [1]}, format="json"
    )
    assert ok.status_code == 201


def test_planning_cycle_goals_must_be_lines(api, project):
    response = api.post(url(project, "planning-cycles/"), {"goals": [{"a": 1}]}, format="json")
    assert response.status_code == 400
    assert response.data["goals"] == ["[0]: expected a string, not an object"]
    assert not PlanningCycle.objects.exists()


def test_an_agent_tool_gets_a_clear_error_for_a_bad_shape(project):
    run = AgentRunFactory(project=project)
    step = AgentStep.objects.create(run=run, number=1)
    arguments = {"namespace": "n", "key": "k", "value": "x" * 1_000_001}
    started = services.tool_call_start(project=project, tool_name="set_state", run=run, step=1)
    status, _, error, _ = _call_tool(
        run, step, registry.get("set_state"), started, arguments, in_transaction=True
    )
    assert status == "failed"
    assert error == "value: at most 1000000 characters, not 1000001"
    assert not AgentState.objects.exists()


def test_a_run_result_must_be_an_object(project):
    run = AgentRunFactory(project=project, status="running")
    with pytest.raises(DomainError, match="result: expected an object, not an array"):
        runs.run_finish(run=run, succeeded=True, result=[1])  # type: ignore[arg-type]
    run.refresh_from_db()
    assert run.status == "running"


def test_the_admin_refuses_a_bad_executor_command(admin_client, project):
    agent = AgentFactory(project=project)
    change = reverse("admin:agents_agent_change", args=[agent.pk])
    form = admin_client.get(change).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["executor_command"] = json.dumps(["./agent.sh"] * 201)
    response = admin_client.post(change, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["executor_command"] == [
        "at most 200 items, not 201"
    ]


def test_a_memory_fact_body_keeps_its_shape(project):
    with pytest.raises(Exception, match="body"):
        memory_fact_create(
            project=project, subject="s", learned="x", confidence=0.5, source="y" * 1001
        )
    assert not MemoryFact.objects.exists()


def test_the_dashboard_shows_a_bad_shape_on_the_form(browser, project):
    coder = AgentFactory(project=project, name="coder")
    response = browser.post(
        executor_url(project, coder),
        {"executor": "command", "executor_command": "a " * 201},
        **HTMX,
    )
    assert response.status_code == 400
    assert "at most 200 items, not 201" in response.content.decode()
    coder.refresh_from_db()
    assert coder.executor_command == []


def test_tools_of_a_project_with_a_malformed_tool_list_are_the_always_on_ones(project):
    always_on = {tool.name for tool in registry.for_project(project)}
    Project.objects.filter(pk=project.pk).update(enabled_tools=5)
    project.refresh_from_db()
    assert {tool.name for tool in registry.for_project(project)} == always_on
