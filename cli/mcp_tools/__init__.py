"""Crewboard's MCP tools: for each, its name, descriptions, input schema, profile and the
REST call it makes, in one table assembled from the topic modules beside this one.

Plain data, no Django: the stdio server sends each call over HTTP, the server's own
`/mcp/` endpoint dispatches it to the same REST view in-process, so both answer alike.
Paths are relative to `/api/v1/projects/{project}/` unless they start with `/`.
"""

from typing import Any
from urllib.parse import quote

from cli.mcp_tools.base import DEFAULT_PROFILE, PROFILES, RestCall, Tool
from cli.mcp_tools.memory import MEMORY_TOOLS
from cli.mcp_tools.plan import PLAN_TOOLS
from cli.mcp_tools.work import WORK_TOOLS

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "TOOLS",
    "TOOLS_BY_NAME",
    "RestCall",
    "Tool",
    "project_path",
    "tool_definitions",
    "tools_for",
]

TOOLS: tuple[Tool, ...] = (*WORK_TOOLS, *PLAN_TOOLS, *MEMORY_TOOLS)
TOOLS_BY_NAME = {tool.name: tool for tool in TOOLS}


def tools_for(profile: str, *, run_key: bool = False) -> list[Tool]:
    """The tools of a profile (with `run_key`, those of them a run key may call); raises
    ValueError for an unknown profile."""
    if profile not in PROFILES:
        raise ValueError(f"Unknown tool profile {profile!r}: use one of {', '.join(PROFILES)}.")
    return [tool for tool in TOOLS if tool.in_profile(profile) and (tool.run_key or not run_key)]


def tool_definitions(profile: str, *, run_key: bool = False) -> list[dict[str, Any]]:
    """The profile's tools as MCP lists them: `core` with one-line descriptions; with
    `run_key`, only those a run key may call."""
    return [
        {
            "name": tool.name,
            "description": tool.summary if profile == "core" else tool.description,
            "inputSchema": tool.input_schema(run_key=run_key),
        }
        for tool in tools_for(profile, run_key=run_key)
    ]


def project_path(project: str, path: str) -> str:
    """The absolute API path of a tool's relative `path` in `project`."""
    if path.startswith("/"):
        return path
    return f"/api/v1/projects/{quote(project, safe='')}/{path}"
