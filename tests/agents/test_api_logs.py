"""The audit trail over the API: tool calls, planning cycles, decisions and metrics, which
are written once and never edited, and read a page at a time."""

import pytest
from rest_framework.test import APIClient

from agents import services
from agents.models import ToolCall
from planning.models import Project
from tests.agents.api_paths import url
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_tool_call_start_complete_list_retrieve(api: APIClient, project) -> None:
    run = AgentRunFactory(agent__project=project)

    started = api.post(
        url(project, "tool-calls"), {"tool_name": "shell", "input": {"cmd": "ls"}, "run": run.id}
    )
    assert started.status_code == 201, started.data
    assert started.data["agent"] == run.agent_id
    assert started.data["completion"] is None

    completed = api.post(
        url(project, "tool-calls", started.data["id"], "complete"),
        {"status": "succeeded", "output": {"files": 3}, "duration_ms": 12},
    )
    assert completed.status_code == 201, completed.data
    assert completed.data["started"] == started.data["id"]
    assert completed.data["status"] == "succeeded"

    listed = api.get(url(project, "tool-calls"))
    [call] = listed.data["results"]  # each call once, with its completion nested
    assert call["id"] == started.data["id"]
    assert call["completion"]["id"] == completed.data["id"]
    assert call["completion"]["output"] == {"files": 3}
    assert call["completion"]["duration_ms"] == 12

    completion_row = api.get(url(project, "tool-calls", completed.data["id"]))
    assert completion_row.status_code == 200
    assert completion_row.data["started"] == started.data["id"]


@pytest.mark.django_db(transaction=True)  # a request in autocommit, as served
def test_completing_a_tool_call_twice_is_a_409(
    append_only_rows_cleared, api: APIClient, project
) -> None:
    started = services.tool_call_start(project=project, tool_name="shell")
    complete = url(project, "tool-calls", started.id, "complete")

    assert api.post(complete, {"status": "failed", "error": "boom"}).status_code == 201
    again = api.post(complete, {"status": "succeeded"})

    assert again.status_code == 409
    assert ToolCall.objects.get(started=started).status == "failed"


def test_completing_a_completion_row_is_a_400(api: APIClient, project) -> None:
    started = services.tool_call_start(project=project, tool_name="shell")
    completion = services.tool_call_complete(started=started, status="succeeded")

    response = api.post(
        url(project, "tool-calls", completion.id, "complete"), {"status": "succeeded"}
    )

    assert response.status_code == 400
    assert ToolCall.objects.count() == 2


def test_a_completion_needs_a_valid_status(api: APIClient, project) -> None:
    started = services.tool_call_start(project=project, tool_name="shell")
    response = api.post(url(project, "tool-calls", started.id, "complete"), {"status": "ok"})
    assert response.status_code == 400
    assert not ToolCall.objects.filter(started=started).exists()


def test_tool_calls_filter_by_tool_agent_run_and_status(api: APIClient, project) -> None:
    run = AgentRunFactory(agent__project=project)
    wanted = services.tool_call_start(project=project, run=run, tool_name="shell")
    services.tool_call_start(project=project, run=run, tool_name="read_file")
    services.tool_call_start(project=project, tool_name="shell")
    done = services.tool_call_start(project=project, run=run, tool_name="shell")
    services.tool_call_complete(started=done, status="succeeded")

    def ids(**params: object) -> list[int]:
        return [c["id"] for c in api.get(url(project, "tool-calls"), params).data["results"]]

    assert ids(tool_name="shell", run=run.id) == [done.id, wanted.id]
    assert ids(tool_name="shell", agent=run.agent_id, status="running") == [wanted.id]
    assert ids(status="succeeded") == [done.id]


@pytest.mark.parametrize("count", [5, 100])
def test_tool_call_list_runs_a_constant_number_of_queries(
    api: APIClient, project, django_assert_max_num_queries, count: int
) -> None:
    run = AgentRunFactory(agent__project=project, task=TaskFactory(project=project))
    for i in range(count):
        started = services.tool_call_start(project=project, run=run, tool_name=f"tool-{i}")
        if i % 2:
            services.tool_call_complete(started=started, status="succeeded", output={"i": i})

    # The membership look-up and one joined page query, whatever the page holds.
    with django_assert_max_num_queries(2):
        response = api.get(url(project, "tool-calls"))

    assert len(response.data["results"]) == count
    assert sum(c["completion"] is not None for c in response.data["results"]) == count // 2
    assert {c["task"] for c in response.data["results"]} == {run.task.key}


def test_planning_cycle_open_close_list_retrieve(api: APIClient, project) -> None:
    opened = api.post(url(project, "planning-cycles"), {"goals": ["plan phase 2"]})
    assert opened.status_code == 201, opened.data
    assert opened.data["status"] == "active"

    close = url(project, "planning-cycles", opened.data["id"], "close")
    closed = api.post(close, {"status": "completed", "outcomes": ["3 plans"]})
    assert closed.status_code == 201, closed.data
    assert closed.data["opened"] == opened.data["id"]

    assert api.post(close, {"status": "abandoned"}).status_code == 409
    assert api.post(close, {"status": "active"}).status_code == 400
    closing_row = url(project, "planning-cycles", closed.data["id"], "close")
    assert api.post(closing_row, {"status": "completed"}).status_code == 400

    [cycle] = api.get(url(project, "planning-cycles")).data["results"]
    assert cycle["id"] == opened.data["id"]
    assert cycle["closing"]["status"] == "completed"
    assert cycle["closing"]["outcomes"] == ["3 plans"]
    detail = api.get(url(project, "planning-cycles", closed.data["id"]))
    assert detail.data["status"] == "completed"


def test_decision_create_list_retrieve(api: APIClient, project) -> None:
    TaskFactory(project=project, key="01-02-T1")
    cycle = services.planning_cycle_open(project=project)
    agent = AgentFactory(project=project)

    created = api.post(
        url(project, "decisions"),
        {
            "decision": "Use SQLite for tests",
            "reasoning": {"options": ["sqlite", "pg"], "chosen": "sqlite"},
            "agent": agent.id,
            "task": "01-02-T1",
            "planning_cycle": cycle.id,
        },
    )
    assert created.status_code == 201, created.data

    listed = api.get(url(project, "decisions"), {"task": "01-02-T1"})
    assert [d["id"] for d in listed.data["results"]] == [created.data["id"]]
    detail = api.get(url(project, "decisions", created.data["id"]))
    assert detail.data["reasoning"]["chosen"] == "sqlite"
    assert (detail.data["task"], detail.data["planning_cycle"]) == ("01-02-T1", cycle.id)


def test_decision_needs_text(api: APIClient, project) -> None:
    assert api.post(url(project, "decisions"), {"decision": ""}).status_code == 400


def test_metric_create_list_retrieve_filter(api: APIClient, project) -> None:
    run = AgentRunFactory(agent__project=project)

    created = api.post(
        url(project, "metrics"),
        {"type": "token_usage", "value": 1234, "metadata": {"model": "m"}, "run": run.id},
    )
    assert created.status_code == 201, created.data
    assert created.data["agent"] == run.agent_id
    services.metric_record(project=project, type="cost", value=0.02)

    listed = api.get(url(project, "metrics"), {"type": "token_usage"})
    assert [m["id"] for m in listed.data["results"]] == [created.data["id"]]
    assert api.get(url(project, "metrics"), {"run": run.id}).data["results"][0]["value"] == 1234
    detail = api.get(url(project, "metrics", created.data["id"]))
    assert detail.data["metadata"] == {"model": "m"}


def test_metric_rejects_unknown_type(api: APIClient, project) -> None:
    assert api.post(url(project, "metrics"), {"type": "vibes", "value": 1}).status_code == 400


def _log_rows(project: Project) -> dict[str, int]:
    started = services.tool_call_start(project=project, tool_name="shell")
    return {
        "tool-calls": started.id,
        "decisions": services.decision_record(project=project, decision="d").id,
        "planning-cycles": services.planning_cycle_open(project=project).id,
        "metrics": services.metric_record(project=project, type="cost", value=1).id,
    }


LOGS = ["tool-calls", "decisions", "planning-cycles", "metrics"]


@pytest.mark.parametrize("resource", LOGS)
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_logs_cannot_be_edited_or_deleted(
    api: APIClient, project, resource: str, method: str
) -> None:
    row_id = _log_rows(project)[resource]

    response = getattr(api, method)(url(project, resource, row_id), {"decision": "x"})

    assert response.status_code == 405
    assert api.get(url(project, resource, row_id)).status_code == 200


@pytest.mark.parametrize("resource", LOGS)
def test_logs_are_paged_by_cursor(api: APIClient, project, resource: str) -> None:
    _log_rows(project)
    _log_rows(project)

    first = api.get(url(project, resource), {"page_size": 1})

    assert len(first.data["results"]) == 1
    assert "cursor=" in first.data["next"]
    second = api.get(first.data["next"])
    assert second.data["results"][0]["id"] < first.data["results"][0]["id"]


def test_a_tool_call_row_without_a_status_matches_the_schema(api: APIClient, project) -> None:
    """A started row's status is empty: the schema allows it."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    status = schema["components"]["schemas"]["ToolCall"]["properties"]["status"]
    created = api.post(url(project, "tool-calls"), {"tool_name": "read_file"})

    assert created.status_code == 201 and created.data["status"] == ""
    assert {"$ref": "#/components/schemas/BlankEnum"} in status["oneOf"]
