"""A task and a started run of a built-in agent at it, for the step loop's tests."""

import pytest

from agents.services import runs
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory


@pytest.fixture
def task(project):
    return TaskFactory(project=project, key="T1", name="Write the parser", description="Parse it.")


@pytest.fixture
def run(project, task, django_capture_on_commit_callbacks):
    agent = AgentFactory(project=project, name="coder-1")
    run = AgentRunFactory(project=project, agent=agent, task=task)
    with django_capture_on_commit_callbacks() as callbacks:
        runs.run_start(run=run)
    assert len(callbacks) == 1  # step 1 is enqueued once the start commits
    run.refresh_from_db()
    return run
