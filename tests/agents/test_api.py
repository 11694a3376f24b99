from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from agents import services
from agents.models import (
    Agent,
    AgentRun,
    AgentState,
    Checkpoint,
    DecisionLog,
    Metric,
    PlanningCycle,
    ToolCall,
)
from planning.models import Project
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    AgentStateFactory,
    CheckpointFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


def url(project: Project, resource: str, *parts: object) -> str:
    tail = "".join(f"{part}/" for part in parts)
    return f"/api/v1/projects/{project.slug}/{resource}/{tail}"


# Agents -------------------------------------------------------------------------------


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


# Runs ---------------------------------------------------------------------------------


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


# Tool calls ---------------------------------------------------------------------------


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


# Planning cycles, decisions, metrics -------------------------------------------------


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


# Checkpoints --------------------------------------------------------------------------


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


# Agent state --------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["multipart", "form"])
def test_the_api_takes_json_only_so_no_nul_slips_into_a_json_field(
    api: APIClient, project, format
) -> None:
    """Form data would carry a NUL past the JSON parser's check into a JSON field (a 500
    on PostgreSQL); such bodies are refused instead."""
    body = {"namespace": "n", "key": "k", "value": '"a\u0000"'}
    if format == "form":
        from urllib.parse import urlencode

        response = api.post(
            url(project, "agent-state"),
            urlencode(body),
            content_type="application/x-www-form-urlencoded",
        )
    else:
        response = api.post(url(project, "agent-state"), body, format="multipart")
    assert response.status_code == 415
    assert not AgentState.objects.exists()


def test_agent_state_crud_by_id(api: APIClient, project) -> None:
    created = api.post(
        url(project, "agent-state"), {"namespace": "planner", "key": "cursor", "value": [1, 2]}
    )
    assert created.status_code == 201, created.data
    entry_url = url(project, "agent-state", created.data["id"])

    assert api.get(url(project, "agent-state")).data["results"][0]["value"] == [1, 2]
    assert api.patch(entry_url, {"value": {"at": 3}}).data["value"] == {"at": 3}
    duplicate = api.post(
        url(project, "agent-state"), {"namespace": "planner", "key": "cursor", "value": 0}
    )
    assert duplicate.status_code == 400
    assert api.delete(entry_url).status_code == 204
    assert not AgentState.objects.exists()


def test_agent_state_get_and_put_by_key(api: APIClient, project) -> None:
    entry_url = url(project, "agent-state", "planner", "last.run")

    assert api.get(entry_url).status_code == 404

    created = api.put(entry_url, {"value": {"run": 1}})
    assert created.status_code == 200, created.data
    assert (created.data["namespace"], created.data["key"]) == ("planner", "last.run")

    updated = api.put(entry_url, {"value": {"run": 2}})
    assert updated.data["id"] == created.data["id"]
    assert api.get(entry_url).data["value"] == {"run": 2}
    assert AgentState.objects.filter(project=project).count() == 1
    assert api.put(entry_url, {}).status_code == 400


def test_agent_state_by_key_does_not_see_other_projects(
    api: APIClient, project, other_project
) -> None:
    AgentStateFactory(project=other_project, namespace="planner", key="cursor")

    assert api.get(url(project, "agent-state", "planner", "cursor")).status_code == 404
    assert api.get(url(other_project, "agent-state", "planner", "cursor")).status_code == 404


# Scoping ------------------------------------------------------------------------------


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


def test_an_entry_created_without_a_value_holds_null(api: APIClient, project) -> None:
    response = api.post(url(project, "agent-state"), {"namespace": "n", "key": "k"})

    assert response.status_code == 201, response.data
    assert response.data["value"] is None
    assert AgentState.objects.get(namespace="n", key="k").value is None


def test_options_on_an_entry_by_key_describes_it(api: APIClient, project) -> None:
    AgentStateFactory(project=project, namespace="n", key="k", value=1)

    found = api.options(url(project, "agent-state", "n", "k"))
    missing = api.options(url(project, "agent-state", "n", "nothing"))

    assert found.status_code == 200
    assert "PUT" in found.data["actions"]
    assert missing.status_code == 200
    assert "actions" not in missing.data


def test_a_second_entry_at_a_key_is_a_400(api: APIClient, project) -> None:
    AgentStateFactory(project=project, namespace="n", key="k", value=1)

    response = api.post(url(project, "agent-state"), {"namespace": "n", "key": "k", "value": 2})

    assert response.status_code == 400
    assert AgentState.objects.get(namespace="n", key="k").value == 1


def test_a_tool_call_row_without_a_status_matches_the_schema(api: APIClient, project) -> None:
    """A started row's status is empty: the schema allows it."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    status = schema["components"]["schemas"]["ToolCall"]["properties"]["status"]
    created = api.post(url(project, "tool-calls"), {"tool_name": "read_file"})

    assert created.status_code == 201 and created.data["status"] == ""
    assert {"$ref": "#/components/schemas/BlankEnum"} in status["oneOf"]
