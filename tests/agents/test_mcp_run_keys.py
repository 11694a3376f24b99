"""A coding CLI's run key over MCP, at /mcp/ and over stdio: the tools the REST API opens
to a run key and no others, for its own run, and refused once the run has ended. Driven
by the official SDK's client against a live server, as tests/agents/test_mcp.py is."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from django.urls import resolve
from django.utils import timezone
from mcp import Client
from mcp.shared.exceptions import MCPError

from agents.auth import RUN_KEY_REFUSED
from agents.models import AgentRun, DecisionLog, ToolCall
from agents.services import runs
from agents.services.executors import executor_attempt_execute
from cli.mcp_tools import TOOLS, project_path, tools_for
from memory.models import MemoryFact
from planning.models import Task
from tests.agents.test_executors import coding_run, make_repo, make_worktree
from tests.agents.test_mcp import KEY_VARIABLES, answer, over_http, over_stdio
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    FeatureFactory,
    SubFeatureFactory,
    TaskFactory,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("append_only_rows_cleared"),
]

CLIENT = Path(__file__).resolve().parent.parent / "fakes" / "mcp_run_key_client.py"
# What the REST API lets a run key do, as MCP tools.
RUN_KEY_TOOLS = [
    "get_task",
    "report_tool_calls",
    "log_decision",
    "next_task",
    "get_tasks",
    "remember",
    "recall",
    "ask_human",
    "get_answer",
    "plan_analytics",
]


def run_key_over_stdio(base_url: str, key: str, session: Any, *, tools: str = "") -> Any:
    """The stdio server as a coding CLI that Crewboard runs starts it: only
    CREWBOARD_RUN_KEY set."""
    return over_stdio(base_url, key, session, tools=tools, variable="CREWBOARD_RUN_KEY")


TRANSPORTS = [pytest.param(over_http, id="http"), pytest.param(run_key_over_stdio, id="stdio")]


@pytest.fixture
def running_run(project) -> AgentRun:
    plan = SubFeatureFactory(
        feature=FeatureFactory(project=project, key="01"), key="01-01", objective="Ship it."
    )
    task = TaskFactory(
        project=project,
        key="01-01-T1",
        name="Fix mean",
        feature=plan.feature,
        sub_feature=plan,
        status=Task.Status.IN_PROGRESS,
    )
    agent = AgentFactory(project=project, name="codex-1", executor="codex", status="busy")
    now = timezone.now()
    return AgentRunFactory(
        project=project,
        agent=agent,
        task=task,
        status=AgentRun.Status.RUNNING,
        started_at=now,
        lease_expires_at=now + timedelta(minutes=10),
    )


def test_the_run_key_tools_are_those_the_rest_api_opens_to_run_keys():
    """The tool table's `run_key` marks and the REST views' `run_key_methods` agree, so
    MCP offers a run key exactly what REST lets it do."""
    opened = {}
    for tool in TOOLS:
        arguments = {name: "1" for name in tool.properties}
        call = tool.rest_call(arguments)
        view = resolve(project_path("p", call.path)).func.view_class  # type: ignore[attr-defined]
        opened[tool.name] = call.method in view.run_key_methods

    assert opened == {tool.name: tool.run_key for tool in TOOLS}
    assert sorted(name for name, is_open in opened.items() if is_open) == sorted(RUN_KEY_TOOLS)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_run_key_lists_only_the_tools_it_may_call(transport, live_server, running_run):
    key = runs.run_key_issue(run=running_run)

    async def listed(client: Client) -> dict[str, Any]:
        return {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}

    everything = transport(live_server.url, key, listed, tools="all")
    core = transport(live_server.url, key, listed, tools="core")

    assert list(everything) == [tool.name for tool in tools_for("all", run_key=True)]
    assert sorted(everything) == sorted(RUN_KEY_TOOLS)
    assert list(core) == ["get_task", "report_tool_calls", "log_decision"]
    # Its own run is the default: run_id may be left out.
    assert everything["report_tool_calls"]["required"] == ["calls"]
    assert everything["log_decision"]["required"] == ["decision"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_run_key_reports_on_its_own_run_and_nothing_more(
    transport, live_server, project, running_run
):
    key = runs.run_key_issue(run=running_run)
    other = AgentRunFactory(project=project, agent=running_run.agent, task=running_run.task)

    async def work(client: Client) -> dict[str, Any]:
        calls = {
            "task": ("get_task", {"key": "01-01-T1"}),
            "decision": ("log_decision", {"decision": "Return 0.0 for []"}),
            "reported": (
                "report_tool_calls",
                {"calls": [{"call_id": "c1", "tool_name": "pytest", "status": "succeeded"}]},
            ),
            "remembered": ("remember", {"subject": "mean()", "learned": "[] gives 0.0"}),
            "asked": ("ask_human", {"question": "Round?", "options": ["yes", "no"]}),
            # Refused: not open to a run key, or another run.
            "claim": ("claim_task", {}),
            "complete": ("complete_task", {"run_id": running_run.pk, "attempt": 1}),
            "status": ("set_task_status", {"key": "01-01-T1", "status": "done"}),
            "elsewhere": ("log_decision", {"run_id": other.pk, "decision": "Not mine"}),
        }
        return {
            name: await client.call_tool(tool, arguments)
            for name, (tool, arguments) in calls.items()
        }

    results = transport(live_server.url, key, work, tools="all")

    assert answer(results["task"])["name"] == "Fix mean"
    assert answer(results["reported"])["written"] == 2
    answer(results["decision"])
    answer(results["remembered"])
    asked = answer(results["asked"])
    for refused, tool in (
        ("claim", "claim_task"),
        ("complete", "complete_task"),
        ("status", "set_task_status"),
    ):
        text = results[refused].content[0].text
        assert results[refused].is_error, refused
        assert text.startswith(f"Tool '{tool}' is not open to a run key"), text
        assert f"its own run ({running_run.pk})" in text
    elsewhere = results["elsewhere"]
    assert elsewhere.is_error
    refusal = f"HTTP 403: This run key works for run {running_run.pk} only."
    assert elsewhere.content[0].text == refusal
    assert DecisionLog.objects.filter(run=running_run, decision="Return 0.0 for []").exists()
    assert ToolCall.objects.filter(run=running_run).count() == 2
    assert MemoryFact.objects.get().run == running_run
    assert Task.objects.filter(key=asked["checkpoint"]["key"]).exists()
    assert not DecisionLog.objects.filter(run=other).exists()
    running_run.refresh_from_db()
    assert running_run.status == AgentRun.Status.RUNNING
    assert running_run.task.status == Task.Status.IN_PROGRESS
    assert AgentRun.objects.filter(agent=running_run.agent).count() == 2  # claimed nothing


def test_a_run_key_of_an_ended_run_is_refused_over_http(live_server, running_run):
    key = runs.run_key_issue(run=running_run)
    runs.run_finish(run=running_run, succeeded=True, summary="done")

    async def tools(client: Client) -> Any:
        return await client.list_tools()

    with pytest.raises(ExceptionGroup) as refused:
        over_http(live_server.url, key, tools)
    assert refused.value.subgroup(lambda exc: isinstance(exc, MCPError)) is not None
    assert RUN_KEY_REFUSED in repr(refused.value)
    raw = httpx2.post(
        f"{live_server.url}/mcp/",
        headers={"Authorization": f"Bearer {key}"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert raw.status_code == 401
    assert raw.json()["error"]["message"] == RUN_KEY_REFUSED


def test_a_run_key_of_an_ended_run_stops_the_stdio_server(live_server, running_run):
    key = runs.run_key_issue(run=running_run)
    runs.run_cancel(run=running_run)
    env = {name: value for name, value in os.environ.items() if name not in KEY_VARIABLES}
    env.update(CREWBOARD_URL=live_server.url, CREWBOARD_RUN_KEY=key)

    finished = subprocess.run(
        [sys.executable, "-m", "cli.mcp_stdio"],
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert f"The run key was refused: HTTP 401: {RUN_KEY_REFUSED}" in finished.stderr


def ended(run: AgentRun) -> None:
    """End `run` from a thread of its own, as the worker that runs it would."""
    from django.db import connections

    try:
        runs.run_finish(run=run, succeeded=False, summary="", error="killed")
    finally:
        connections.close_all()


def test_a_run_key_that_dies_mid_session_makes_tools_fail_over_stdio(live_server, running_run):
    key = runs.run_key_issue(run=running_run)

    async def work(client: Client) -> tuple[Any, Any]:
        before = await client.call_tool("get_task", {"key": "01-01-T1"})
        await anyio.to_thread.run_sync(ended, running_run)
        after = await client.call_tool("get_task", {"key": "01-01-T1"})
        return before, after

    before, after = run_key_over_stdio(live_server.url, key, work)

    assert answer(before)["key"] == "01-01-T1"
    assert after.is_error
    assert after.content[0].text == f"HTTP 401: {RUN_KEY_REFUSED}"


def test_a_run_key_that_dies_mid_session_is_refused_over_http(live_server, running_run):
    key = runs.run_key_issue(run=running_run)
    seen: list[Any] = []

    async def work(client: Client) -> None:
        seen.append(await client.call_tool("get_task", {"key": "01-01-T1"}))
        await anyio.to_thread.run_sync(ended, running_run)
        await client.call_tool("get_task", {"key": "01-01-T1"})

    with pytest.raises(ExceptionGroup) as refused:
        over_http(live_server.url, key, work)

    assert answer(seen[0])["key"] == "01-01-T1"
    assert refused.value.subgroup(lambda exc: isinstance(exc, MCPError)) is not None
    assert RUN_KEY_REFUSED in repr(refused.value)


@pytest.fixture
def client_bin(settings, tmp_path) -> Path:
    """The MCP client script where `make tools`' folder is: visible inside the sandbox."""
    settings.VAR_DIR = tmp_path / "var"
    settings.EXECUTOR_TIMEOUT_S = 120
    folder = settings.VAR_DIR / "tools" / "node_modules" / ".bin"
    folder.mkdir(parents=True)
    script = folder / "mcp-run-key-client.py"
    script.write_bytes(CLIENT.read_bytes())
    return script


def test_a_coding_cli_uses_crewboard_mcp_with_the_key_it_was_given(
    live_server, settings, project, tmp_path, client_bin
):
    settings.CREWBOARD_URL = live_server.url
    repo = make_repo(tmp_path)
    worktree = make_worktree(repo, tmp_path)
    # The interpreter that has the MCP SDK and Crewboard's `cli` package.
    command = [sys.executable, str(client_bin), "{worktree}", "{prompt_file}"]
    run = coding_run(project, repo, worktree, executor="command", command=command)

    executor_attempt_execute(run_id=run.pk)

    seen = json.loads((worktree / "mcp-run-key-report.json").read_text())
    assert seen["listed"] == [tool.name for tool in tools_for("standard", run_key=True)]
    assert seen["decision"][0] is False and seen["reported"][0] is False
    assert seen["task"][0] is False and json.loads(seen["task"][1])["key"] == "T-1"
    assert seen["claim"][0] is True and "not open to a run key" in seen["claim"][1]
    run.refresh_from_db()
    assert (run.status, run.stage) == (AgentRun.Status.RUNNING, AgentRun.Stage.VERIFYING)
    assert DecisionLog.objects.filter(run=run, decision="Greet in one word").exists()
    assert ToolCall.objects.filter(run=run, tool_name="ruff", started__isnull=True).exists()
    # The key went with the CLI.
    assert run.key_hash == ""
