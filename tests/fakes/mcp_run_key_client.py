"""A coding agent of one's own for tests that works through `crewboard mcp`, as a Codex or
Claude Code configured with it would: it starts the stdio server with the environment
Crewboard gave it (so the server finds CREWBOARD_RUN_KEY), lists the tools, reports on
its run, tries a tool a run key may not call, records what it saw in the worktree
(mcp-run-key-report.json), and writes hello.txt so the run's check passes.

Usage: mcp_run_key_client.py <worktree> <prompt file>. Needs the MCP SDK and Crewboard's
`cli` package on the interpreter that runs it.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters


async def work() -> dict[str, Any]:
    # The whole environment, as a CLI hands its own to the MCP servers it starts.
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "cli.mcp_stdio"], env=dict(os.environ)
    )
    async with Client(server) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]
        decision = await client.call_tool("log_decision", {"decision": "Greet in one word"})
        reported = await client.call_tool(
            "report_tool_calls",
            {"calls": [{"call_id": "m1", "tool_name": "ruff", "status": "succeeded"}]},
        )
        claim = await client.call_tool("claim_task", {})
        task = await client.call_tool("get_task", {"key": os.environ["CREWBOARD_TASK"]})
    return {
        "listed": listed,
        "decision": [decision.is_error, decision.content[0].text],
        "reported": [reported.is_error, reported.content[0].text],
        "claim": [claim.is_error, claim.content[0].text],
        "task": [task.is_error, task.content[0].text],
    }


def main() -> None:
    worktree = Path(sys.argv[1])
    seen = anyio.run(work)
    (worktree / "mcp-run-key-report.json").write_text(json.dumps(seen))
    (worktree / "hello.txt").write_text("hello\n")
    print("greeted over MCP")


if __name__ == "__main__":
    main()
