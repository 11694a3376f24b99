"""`crewboard mcp`: the MCP server over stdio, a thin client of a Crewboard's REST API.

Configured by the environment: `CREWBOARD_URL` (default http://127.0.0.1:8000),
`CREWBOARD_AGENT_KEY` (an external agent's key) or, without it, `CREWBOARD_RUN_KEY` (the
run key Crewboard gives a coding CLI it runs), and `CREWBOARD_MCP_TOOLS` (`core`,
`standard` or `all`). Also runnable as `python -m cli.mcp_stdio`.
"""

import os
import sys
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
from mcp.server.stdio import stdio_server

from cli.mcp_server import build_server, error_text
from cli.mcp_tools import DEFAULT_PROFILE, PROFILES, RestCall

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_S = 60.0
# A coding CLI that Crewboard runs finds its run key here (agents.services.executors).
RUN_KEY_VARIABLE = "CREWBOARD_RUN_KEY"
AGENT_KEY_VARIABLE = "CREWBOARD_AGENT_KEY"


class SetupError(Exception):
    """The server cannot start: a missing setting, a bad key, an unreachable Crewboard."""


def _decoded(response: httpx2.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


@dataclass(frozen=True)
class KeyOwner:
    project: str
    run: int | None  # a run key's run; None for an agent key


async def _owner_of_key(client: httpx2.AsyncClient, *, which: str) -> KeyOwner:
    try:
        response = await client.get("/api/v1/agent/")
    except httpx2.HTTPError as exc:
        raise SetupError(f"Cannot reach Crewboard at {client.base_url}: {exc}") from None
    if response.status_code != 200:
        raise SetupError(
            f"The {which} was refused: {error_text(response.status_code, _decoded(response))}"
        )
    owner = response.json()
    run = owner.get("run")
    return KeyOwner(project=str(owner["project"]), run=int(run) if run is not None else None)


async def _serve(url: str, key: str, profile: str, which: str) -> None:
    headers = {"Authorization": f"Agent {key}", "Accept": "application/json"}
    async with httpx2.AsyncClient(base_url=url, headers=headers, timeout=TIMEOUT_S) as client:
        owner = await _owner_of_key(client, which=which)

        async def call(request: RestCall) -> tuple[int, Any]:
            response = await client.request(
                request.method,
                request.path,
                params=request.query or None,
                json=request.body if request.body is not None else None,
            )
            return response.status_code, _decoded(response)

        server = build_server(call=call, project=owner.project, profile=profile, run=owner.run)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def serve() -> None:
    """Serve MCP on stdin/stdout until the client closes it; exits 2 on a bad setup."""
    url = os.environ.get("CREWBOARD_URL", DEFAULT_URL).rstrip("/")
    # An agent key set on purpose wins over the run key a coding CLI inherits.
    key, which = os.environ.get(AGENT_KEY_VARIABLE, ""), "agent key"
    if not key:
        key, which = os.environ.get(RUN_KEY_VARIABLE, ""), "run key"
    profile = os.environ.get("CREWBOARD_MCP_TOOLS", DEFAULT_PROFILE)
    try:
        if not key:
            raise SetupError(
                f"Set {AGENT_KEY_VARIABLE} to an external agent's key (a coding CLI that "
                f"Crewboard runs has {RUN_KEY_VARIABLE} set instead)."
            )
        if profile not in PROFILES:
            raise SetupError(f"CREWBOARD_MCP_TOOLS must be one of {', '.join(PROFILES)}.")
        anyio.run(_serve, url, key, profile, which)
    except SetupError as exc:
        print(f"crewboard mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    serve()
