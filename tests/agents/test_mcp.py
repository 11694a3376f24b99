"""The MCP server, over Streamable HTTP at /mcp/ and over stdio (`python -m cli.mcp_stdio`),
driven by the official SDK's client against a live server."""

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from django.conf import settings
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from agents import services
from agents.api.mcp import read_only_call
from agents.models import Agent, AgentRun, DecisionLog, ToolCall
from cli.mcp_tools import RestCall, tools_for
from memory.models import MemoryFact
from planning.models import Task
from tests.factories import AgentFactory, FeatureFactory, SubFeatureFactory, TaskFactory

# The live server commits: the append-only tables are emptied for the next test.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("append_only_rows_cleared"),
]

Session = Callable[[Client], Awaitable[Any]]


def over_http(base_url: str, key: str, session: Session, *, tools: str = "") -> Any:
    async def run() -> Any:
        query = f"?tools={tools}" if tools else ""
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            transport = streamable_http_client(f"{base_url}/mcp/{query}", http_client=http)
            async with Client(transport) as client:
                return await session(client)

    return anyio.run(run)


KEY_VARIABLES = ("CREWBOARD_AGENT_KEY", "CREWBOARD_RUN_KEY")


def over_stdio(
    base_url: str,
    key: str,
    session: Session,
    *,
    tools: str = "",
    variable: str = "CREWBOARD_AGENT_KEY",
) -> Any:
    """`session` with the stdio server, its key in `variable` (and no other key set)."""
    env = {name: value for name, value in os.environ.items() if name not in KEY_VARIABLES}
    env.update(
        {"CREWBOARD_URL": base_url, variable: key, "CREWBOARD_MCP_TOOLS": tools or "standard"}
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "cli.mcp_stdio"], env=env)

    async def run() -> Any:
        async with Client(params) as client:
            return await session(client)

    return anyio.run(run)


TRANSPORTS = [pytest.param(over_http, id="http"), pytest.param(over_stdio, id="stdio")]


def answer(result: Any) -> Any:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


def worker(project, *, may_add_tasks: bool = True) -> tuple[Agent, str]:
    agent = AgentFactory(
        project=project, name="claude-1", type=Agent.Type.EXTERNAL, may_add_tasks=may_add_tasks
    )
    return agent, services.agent_key_issue(agent=agent).key


@pytest.fixture
def task(project) -> Task:
    plan = SubFeatureFactory(
        feature=FeatureFactory(project=project, key="01"), key="01-01", objective="Ship it."
    )
    return TaskFactory(
        project=project, key="01-01-T1", name="Fix mean", feature=plan.feature, sub_feature=plan
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_profile_lists_its_tools(transport, live_server, project):
    _, key = worker(project)

    async def names(client: Client) -> list[str]:
        return [tool.name for tool in (await client.list_tools()).tools]

    for profile in ("core", "standard", "all"):
        listed = transport(live_server.url, key, names, tools=profile)
        assert listed == [tool.name for tool in tools_for(profile)], profile
    assert len(transport(live_server.url, key, names, tools="core")) == 7


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_agent_claims_reports_and_completes_a_task(transport, live_server, project, task):
    agent, key = worker(project)

    async def work(client: Client) -> dict[str, Any]:
        claimed = answer(await client.call_tool("claim_task", {"lease_seconds": 600}))
        run = claimed["run"]
        await client.call_tool("heartbeat", {})
        reported = answer(
            await client.call_tool(
                "report_tool_calls",
                {
                    "run_id": run["id"],
                    "calls": [{"call_id": "c1", "tool_name": "pytest", "status": "succeeded"}],
                },
            )
        )
        answer(
            await client.call_tool("log_decision", {"run_id": run["id"], "decision": "Return 0.0"})
        )
        done = answer(
            await client.call_tool(
                "complete_task",
                {"run_id": run["id"], "attempt": run["attempt"], "result": {"tests": "green"}},
            )
        )
        nothing = await client.call_tool("claim_task", {})
        return {"claimed": claimed, "reported": reported, "done": done, "nothing": nothing}

    outcome = transport(live_server.url, key, work, tools="core")

    assert outcome["claimed"]["task"]["key"] == "01-01-T1"
    assert outcome["claimed"]["plan"]["objective"] == "Ship it."
    assert outcome["reported"]["written"] == 2
    assert outcome["done"]["task"]["status"] == "done"
    assert outcome["nothing"].content[0].text == "No task is ready to claim."
    run = AgentRun.objects.get(agent=agent)
    assert run.status == AgentRun.Status.SUCCEEDED and run.result == {"tests": "green"}
    assert ToolCall.objects.filter(run=run).count() == 2
    assert DecisionLog.objects.get(run=run).decision == "Return 0.0"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_agent_adds_a_subtask_and_remembers_and_recalls_a_fact(
    transport, live_server, project, task
):
    _, key = worker(project)

    async def work(client: Client) -> dict[str, Any]:
        subtask = answer(
            await client.call_tool("add_subtask", {"key": "01-01-T1", "name": "Empty input"})
        )
        answer(
            await client.call_tool(
                "remember", {"subject": "mean()", "learned": "mean([]) must return 0.0"}
            )
        )
        recalled = answer(await client.call_tool("recall", {"q": "mean"}))
        plan = await client.read_resource("crewboard://plan")
        task_page = await client.read_resource("crewboard://tasks/01-01-T1")
        return {
            "subtask": subtask,
            "recalled": recalled,
            "plan": plan.contents[0].text,
            "task": task_page.contents[0].text,
        }

    outcome = transport(live_server.url, key, work)

    assert outcome["subtask"]["key"] == "01-01-T1.1"
    assert Task.objects.get(key="01-01-T1.1").parent == Task.objects.get(key="01-01-T1")
    assert [fact["learned"] for fact in outcome["recalled"]["results"]] == [
        "mean([]) must return 0.0"
    ]
    assert MemoryFact.objects.get().agent.name == "claude-1"
    assert "Fix mean" in outcome["plan"]
    assert outcome["task"].startswith("# 01-01-T1: Fix mean")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_task_master_key_reaches_its_task(transport, live_server, project):
    TaskFactory(project=project, key="ui:12.3", name="Tagged subtask")
    _, key = worker(project)

    async def work(client: Client) -> Any:
        return answer(await client.call_tool("get_task", {"key": "ui:12.3"}))

    assert transport(live_server.url, key, work)["name"] == "Tagged subtask"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_task_of_another_project_is_a_clear_tool_error(
    transport, live_server, project, other_project
):
    TaskFactory(project=other_project, key="SECRET")
    _, key = worker(project, may_add_tasks=False)

    async def work(client: Client) -> list[Any]:
        return [
            await client.call_tool("get_task", {"key": "SECRET"}),
            await client.call_tool("add_task", {"name": "Not allowed"}),
            await client.call_tool("get_task", {}),
            await client.call_tool("complete_task", {"run_id": 999999, "attempt": 1}),
        ]

    missing, refused, no_key, no_run = transport(live_server.url, key, work)

    assert missing.is_error and missing.content[0].text.startswith("HTTP 404")
    assert refused.is_error and "may_add_tasks" in refused.content[0].text
    assert no_key.is_error and no_key.content[0].text == "get_task needs key."
    assert no_run.is_error and no_run.content[0].text.startswith("HTTP 404")


def test_a_bad_key_is_refused_over_http(live_server, project):
    async def tools(client: Client) -> Any:
        return await client.list_tools()

    # The SDK's client raises the server's JSON-RPC error, inside its task groups.
    with pytest.raises(ExceptionGroup) as refused:
        over_http(live_server.url, "cbk_not-a-key", tools)
    matched = refused.value.subgroup(lambda exc: isinstance(exc, MCPError))
    assert matched is not None
    assert "Invalid agent key." in repr(matched)
    answer_ = httpx2.post(
        f"{live_server.url}/mcp/",
        headers={"Authorization": "Bearer cbk_not-a-key"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert answer_.status_code == 401
    assert answer_.json()["error"]["message"] == "Invalid agent key."


def test_a_bad_key_stops_the_stdio_server_with_a_clear_message(live_server, project):
    import subprocess

    env = {**os.environ, "CREWBOARD_URL": live_server.url, "CREWBOARD_AGENT_KEY": "cbk_bad"}
    finished = subprocess.run(
        [sys.executable, "-m", "cli.mcp_stdio"],
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert "The agent key was refused: HTTP 401: Invalid agent key." in finished.stderr


@pytest.fixture
def inspector() -> Path:
    program = Path(settings.VAR_DIR) / "tools" / "node_modules" / ".bin" / "mcp-inspector"
    if not program.exists():
        pytest.skip("The MCP Inspector is not installed under var/tools (run `make tools`)")
    return program


def test_the_mcp_inspector_lists_and_calls_the_tools_over_http(
    inspector, live_server, project, task
):
    import subprocess

    _, key = worker(project)

    def inspect(*args: str) -> Any:
        finished = subprocess.run(
            [
                str(inspector),
                "--cli",
                f"{live_server.url}/mcp/",
                "--transport",
                "http",
                "--header",
                f"Authorization: Bearer {key}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert finished.returncode == 0, finished.stderr + finished.stdout
        return json.loads(finished.stdout)

    listed = inspect("--method", "tools/list")
    called = inspect(
        "--method", "tools/call", "--tool-name", "get_task", "--tool-arg", "key=01-01-T1"
    )

    assert [tool["name"] for tool in listed["tools"]] == [t.name for t in tools_for("standard")]
    assert not called.get("isError")
    assert json.loads(called["content"][0]["text"])["key"] == "01-01-T1"


@pytest.mark.django_db
def test_a_get_is_refused_at_once_rather_than_held_open(client, project):
    """The server is stateless and pushes nothing: a GET (the optional server stream)
    answers 405 at once instead of holding a worker."""
    _, key = worker(project)

    response = client.get("/mcp/", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert response.status_code == 405
    assert response["Allow"] == "POST, DELETE"


@pytest.mark.django_db
def test_next_task_takes_a_fixed_number_of_queries(client, project, django_assert_max_num_queries):
    for n in range(1, 201):
        TaskFactory(project=project, key=str(n), priority=("high", "low")[n % 2])
    _, key = worker(project)
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "next_task", "arguments": {}},
    }

    # The key, then the REST call's: the agent; started tasks and plans; the best group;
    # the winner, and its dependency keys.
    with django_assert_max_num_queries(7):
        response = client.post(
            "/mcp/",
            call,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            HTTP_ACCEPT="application/json, text/event-stream",
        )

    assert response.status_code == 200, response.content
    result = response.json()["result"]
    assert not result.get("isError"), result
    assert json.loads(result["content"][0]["text"])["key"] == "2"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_expand_task_splits_a_task_into_subtasks(transport, live_server, project):
    TaskFactory(project=project, key="5", name="Stream it", description="- Read\n- Parse")
    _, key = worker(project)

    async def expand(client: Client) -> tuple[Any, Any]:
        expanded = answer(await client.call_tool("expand_task", {"key": "5", "num": 3}))
        again = await client.call_tool("expand_task", {"key": "5"})
        return expanded, again

    expanded, again = transport(live_server.url, key, expand)
    assert [(s["key"], s["parent"]) for s in expanded["subtasks"]] == [("5.1", "5"), ("5.2", "5")]
    assert again.is_error
    assert again.content[0].text.startswith("HTTP 409: 5 already has subtasks (5.1, 5.2)")


def test_read_only_tool_calls_are_made_before_the_event_loop_and_others_not():
    def body(message: Any) -> bytes:
        return json.dumps(message).encode()

    def tool_call(name: str, arguments: Any = None) -> bytes:
        params = {"name": name, "arguments": arguments or {}}
        return body({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})

    early = read_only_call(tool_call("get_task", {"key": "ui:1"}), project="p", profile="all")
    assert early == RestCall("GET", "/api/v1/projects/p/agent/tasks/ui%3A1/")
    assert read_only_call(tool_call("next_task"), project="p", profile="standard")
    for refused in (
        tool_call("claim_task"),  # a write
        tool_call("get_task"),  # a required argument missing: the tool answers that
        tool_call("get_task", ["not", "an", "object"]),
        body([json.loads(tool_call("next_task"))]),  # a batch
        body({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        b"{not json",
    ):
        assert read_only_call(refused, project="p", profile="all") is None, refused
    assert read_only_call(tool_call("plan_analytics"), project="p", profile="core") is None
