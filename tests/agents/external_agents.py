"""What the external-agent API tests share: URLs, clients that send an agent key, an
external agent with its client, a claim, and a reported tool call."""

from rest_framework.test import APIClient

from agents import services
from agents.models import Agent
from planning.models import Project
from tests.factories import AgentFactory


def url(project: Project, path: str) -> str:
    return f"/api/v1/projects/{project.slug}/{path}"


def agent_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {key}")
    return client


def external_agent(project: Project, name: str = "claude-1") -> tuple[Agent, APIClient]:
    agent = AgentFactory(project=project, name=name, type=Agent.Type.EXTERNAL)
    issued = services.agent_key_issue(agent=agent)
    return agent, agent_client(issued.key)


def claim(client: APIClient, project: Project, **body: object):
    return client.post(url(project, "tasks/claim/"), body, format="json")


def tool_call(call_id: str, **fields: object) -> dict:
    return {"call_id": call_id, "tool_name": "run_tests", "input": {"path": "tests/"}, **fields}
