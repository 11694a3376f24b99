"""What a built-in agent is told when its run starts."""

import pytest

from agents.prompts import initial_messages, task_goal
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("mode", "says"),
    [("genesis", "The project is new"), ("evolution", "changes an existing codebase")],
)
def test_the_system_prompt_says_what_the_projects_mode_means(project, mode, says):
    project.mode = mode
    project.save(update_fields=["mode"])
    task = TaskFactory(project=project, key="T1", name="Add a parser")
    run = AgentRunFactory(agent=AgentFactory(project=project, type="coder"), task=task)

    system, goal = initial_messages(run, task_goal(run))

    assert system["role"] == "system"
    assert says in system["content"]
    assert "Carry out the task" in system["content"]
    assert goal["content"].startswith("Task T1: Add a parser")
