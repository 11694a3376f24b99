"""What a built-in agent is told when its run starts: who it is, and the task."""

from typing import Any

from agents.llm import ChatMessage
from agents.models import AgentRun

SYSTEM_PROMPT = """You are {name}, a {type} agent working on the project "{project}" under
Crewboard. Work on the task you are given using the tools offered. Record important
decisions with log_decision and what you learn with remember. When the work is done, or
cannot be done, call finish with a short summary."""


def initial_messages(run: AgentRun, goal: str) -> list[dict[str, Any]]:
    """The opening of the run's conversation, OpenAI-shaped, as the run stores it."""
    agent = run.agent
    system = SYSTEM_PROMPT.format(name=agent.name, type=agent.type, project=run.project.name)
    return [ChatMessage.system(system).to_openai(), ChatMessage.user(goal).to_openai()]


def task_goal(run: AgentRun) -> str:
    """The run's task as the model reads it, or the goal its payload names."""
    task = run.task
    if task is None:
        return str(run.payload.get("goal", ""))
    parts = [f"Task {task.key}: {task.name}", task.description]
    if task.files:
        parts.append("Files: " + ", ".join(task.files))
    if task.verify:
        parts.append(f"Verify with: {task.verify}")
    if task.done_criteria:
        parts.append(f"Done when: {task.done_criteria}")
    return "\n\n".join(p for p in parts if p)
