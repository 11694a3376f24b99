from collections.abc import Callable

import pytest

from agents.llm import OpenAIClient
from agents.models import Agent
from planning.models import TaskDependency
from tests.factories import AgentFactory, TaskFactory
from tests.fakes import FakeOpenAIServer


@pytest.fixture
def plan(project):
    """A, B and C, where C waits for A, and H, a checkpoint waiting for a person."""
    a = TaskFactory(project=project, key="A", priority="high")
    TaskFactory(project=project, key="B")
    c = TaskFactory(project=project, key="C")
    TaskDependency.objects.create(task=c, depends_on=a)
    TaskFactory(project=project, key="H", type="checkpoint:human-verify", priority="high")
    return project


@pytest.fixture
def coders(coding_model) -> Callable[..., list[Agent]]:
    """Makes `n` coder agents in a project: coder-0, coder-1, ..."""

    def make(project, n):
        return [AgentFactory(project=project, name=f"coder-{i}") for i in range(n)]

    return make


@pytest.fixture
def llm_server():
    """A fake OpenAI-compatible server on 127.0.0.1; script its replies."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def openai_client(llm_server) -> OpenAIClient:
    """The openai provider's client, talking to `llm_server`."""
    return OpenAIClient(base_url=llm_server.base_url, api_key="sk-test", timeout_s=5, max_retries=2)
