"""Options every command shares, and the API client each kind of caller gets."""

from typing import Annotated

import typer

from cli.client import Api
from cli.config import settings
from cli.errors import UsageError

Json = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer, for scripts.")]
Project = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        help="Project slug (default: CREWBOARD_PROJECT, else the one `crewboard use` set).",
        show_default=False,
    ),
]
AgentKey = Annotated[
    str,
    typer.Option(
        "--agent-key",
        envvar="CREWBOARD_AGENT_KEY",
        help="The external agent's key (default: CREWBOARD_AGENT_KEY).",
        show_default=False,
    ),
]


def person_api() -> Api:
    """The API as the logged-in person (their token)."""
    current = settings()
    return Api(current.url, token=current.token)


def agent_api(agent_key: str) -> Api:
    """The API as an external agent (its key)."""
    if not agent_key:
        raise UsageError("No agent key: pass --agent-key, or set CREWBOARD_AGENT_KEY.")
    return Api(settings().url, agent_key=agent_key)
