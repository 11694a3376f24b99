"""Authentication for external agents and coding CLIs: `Authorization: Agent <key>`
(see agents.keys).

An agent key (`cbk_…`) acts as its agent. A run key (`cbr_…`) acts as the agent of one
running run, and only for what `AgentKeyView.run_key_methods` lets through: the run's
own reports, the plan's reads, memory and questions. It stops working when its run ends.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from agents import statements
from agents.keys import RUN_KEY_PREFIX, agent_key_hash
from agents.models import Agent, AgentRun
from core.api.throttling import record_failure, refuse_while_failing
from core.db import instance_from_row, prepared_cursor
from planning.models import Project

KEYWORD = "Agent"
# What a run key of a run that has ended (or a key that never was one) is told.
RUN_KEY_REFUSED = "Invalid run key: a run key works only while its run is running."


def _agent_by_key_hash(key_hash: str) -> Agent | None:
    """The agent with this key hash, with its project."""
    # Every request an agent makes runs this: a prepared statement.
    with prepared_cursor() as cursor:
        cursor.execute(statements.agent_by_key_hash(), [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    agent_end = len(statements.AGENT_FIELDS)
    agent = instance_from_row(Agent, statements.AGENT_FIELDS, row[:agent_end])
    agent.project = instance_from_row(Project, statements.PROJECT_FIELDS, row[agent_end:])
    return agent


def _running_run_by_key_hash(key_hash: str) -> AgentRun | None:
    """The running run whose key has this hash, with its agent and the agent's project."""
    return (
        AgentRun.objects.select_related("agent__project")
        .filter(key_hash=key_hash, status=AgentRun.Status.RUNNING)
        .first()
    )


def _identity_by_key(parts: list[bytes]) -> "AgentIdentity":
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed("Send `Authorization: Agent <key>`.")
    try:
        key = parts[1].decode()
    except UnicodeError:
        raise exceptions.AuthenticationFailed("Invalid agent key.") from None
    if key.startswith(RUN_KEY_PREFIX):
        run = _running_run_by_key_hash(agent_key_hash(key))
        if run is None:
            raise exceptions.AuthenticationFailed(RUN_KEY_REFUSED)
        return AgentIdentity(run.agent, run=run)
    agent = _agent_by_key_hash(agent_key_hash(key))
    if agent is None:
        raise exceptions.AuthenticationFailed("Invalid agent key.")
    return AgentIdentity(agent)


def agent_for_key(key: str) -> Agent | None:
    """The agent a key belongs to (terminated or not), with its project; None for no agent."""
    return _agent_by_key_hash(agent_key_hash(key))


def run_for_key(key: str) -> AgentRun | None:
    """The running run a run key (`cbr_…`) belongs to, with its agent and the agent's
    project; None for any other key, and once the run has ended."""
    if not key.startswith(RUN_KEY_PREFIX):
        return None
    return _running_run_by_key_hash(agent_key_hash(key))


class AgentIdentity:
    """`request.user` for a request made with an agent key; the agent is `request.auth`.
    `run` is set for a run key: the one run it may report on."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None

    def __init__(self, agent: Agent, *, run: AgentRun | None = None) -> None:
        self.agent = agent
        self.run = run

    def __str__(self) -> str:
        return f"agent {self.agent.name}"


class AgentKeyAuthentication(BaseAuthentication):
    """Accepts `Authorization: Agent <key>` and nothing else.

    Only the agent endpoints use it, so an agent key never reaches an endpoint that
    expects a person. An address that keeps sending invalid keys is refused for a while
    (core.api.throttling).
    """

    def authenticate(self, request: Request) -> tuple[AgentIdentity, Agent] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        refuse_while_failing(request)
        try:
            identity = _identity_by_key(parts)
        except exceptions.AuthenticationFailed:
            record_failure(request)
            raise
        return identity, identity.agent

    def authenticate_header(self, request: Request) -> str:
        # Makes a missing or bad key a 401 rather than a 403.
        return KEYWORD


def run_key_scope(request: Request) -> AgentRun | None:
    """The run a request's run key is limited to; None for an agent key (or a person)."""
    identity = request.user
    return identity.run if isinstance(identity, AgentIdentity) else None


class IsWorkingAgent(BasePermission):
    """The request carries a valid agent key, and the agent has not been terminated."""

    message = "This endpoint needs an agent key: `Authorization: Agent <key>`."

    def has_permission(self, request: Request, view: Any) -> bool:
        agent = request.auth
        if not isinstance(agent, Agent):
            return False
        if agent.status == Agent.Status.TERMINATED:
            self.message = f"Agent {agent.name} is terminated."
            return False
        return True


# drf-spectacular registers extensions in an __init_subclass__ it leaves unannotated.
class AgentKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "agents.auth.AgentKeyAuthentication"
    name = "agentKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Agent <key>`: the key shown once when it was issued "
            "(POST /api/v1/projects/{slug}/agents/{id}/key/).",
        }
