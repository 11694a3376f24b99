"""Options every command shares, and the API client each kind of caller gets."""

import click

from cli.client import Api
from cli.config import settings
from cli.errors import UsageError

json_option = click.option(
    "--json", "json_output", is_flag=True, help="Print the API's JSON answer, for scripts."
)
project_option = click.option(
    "--project",
    "-p",
    default=None,
    metavar="SLUG",
    help="Project slug (default: CREWBOARD_PROJECT, else the one `crewboard use` set).",
)
agent_key_option = click.option(
    "--agent-key",
    envvar="CREWBOARD_AGENT_KEY",
    default="",
    metavar="KEY",
    help="The external agent's key (default: CREWBOARD_AGENT_KEY).",
)


def person_api() -> Api:
    """The API as the logged-in person (their token)."""
    current = settings()
    return Api(current.url, token=current.token)


def agent_api(agent_key: str) -> Api:
    """The API as an external agent (its key)."""
    if not agent_key:
        raise UsageError("No agent key: pass --agent-key, or set CREWBOARD_AGENT_KEY.")
    return Api(settings().url, agent_key=agent_key)
