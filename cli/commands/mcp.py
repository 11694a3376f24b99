"""`crewboard mcp`: the MCP server over stdio, for coding agents that speak MCP."""

import importlib

import click

from cli.errors import CliError, reported


@click.command()
@reported
def mcp() -> None:
    """Serve Crewboard's MCP tools over stdio (set CREWBOARD_URL and CREWBOARD_AGENT_KEY,
    or CREWBOARD_RUN_KEY as Crewboard sets it for the coding CLIs it runs)."""
    # Imported here: the MCP SDK is heavy, and no other command needs it.
    try:
        server = importlib.import_module("cli.mcp_stdio")
    except ModuleNotFoundError as exc:
        raise CliError(f"The MCP server cannot start: {exc}.") from None
    server.serve()
