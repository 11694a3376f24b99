from collections.abc import Callable

import pytest

from agents.models import Agent
from planning.models import TaskDependency
from tests.factories import AgentFactory, TaskFactory


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
def coders() -> Callable[..., list[Agent]]:
    """Makes `n` coder agents in a project: coder-0, coder-1, ..."""

    def make(project, n):
        return [AgentFactory(project=project, name=f"coder-{i}") for i in range(n)]

    return make
