"""What a built-in agent is told when its run starts: who it is, and the task."""

import json
from typing import Any

from agents.llm import ChatMessage
from agents.models import AgentRun

SYSTEM_PROMPT = """You are {name}, a {type} agent working on the project "{project}" under
Crewboard. {mode} {role} Record important decisions with log_decision and what you learn with
remember. When the work is done, or cannot be done, call finish with a short summary."""

# What each role is for. The coding roles work in a git worktree of their own.
ROLE_PROMPTS = {
    "coder": (
        "Carry out the task you are given by changing the code in your git worktree with "
        "the file, search, command and git tools: read before you write, keep changes to "
        "what the task asks, run the tests, and commit your work with git_commit. When you "
        "call finish, the task's checks run; if they fail you get their output and carry on."
    ),
    "tester": (
        "Check the work on the task you are given: read the code and run its tests and "
        "checks in the worktree with run_command. Do not change the code; report what "
        "passes and what fails."
    ),
    "reviewer": (
        "Review the change made for the task you are given: read the diff (git_diff) and "
        "the code it touches, and report what is wrong or missing, file by file."
    ),
    "merger": (
        "Bring the reviewed change for the task you are given onto the base branch with "
        "the git tools, and report any conflict you cannot resolve."
    ),
}
DEFAULT_ROLE_PROMPT = "Work on the task you are given using the tools offered."

# The project's mode (Project.mode) says how much code already exists.
MODE_PROMPTS = {
    "genesis": (
        "The project is new: its code is being built from this plan, so create what the "
        "task needs, laying it out for the tasks that follow."
    ),
    "evolution": (
        "The project changes an existing codebase: read the code around your change first, "
        "follow its structure and conventions, and change no more than the task needs."
    ),
}


def initial_messages(run: AgentRun, goal: str) -> list[dict[str, Any]]:
    """The opening of the run's conversation, OpenAI-shaped, as the run stores it."""
    agent = run.agent
    system = SYSTEM_PROMPT.format(
        name=agent.name,
        type=agent.type,
        project=run.project.name,
        mode=MODE_PROMPTS.get(run.project.mode, ""),
        role=ROLE_PROMPTS.get(agent.type, DEFAULT_ROLE_PROMPT),
    )
    return [ChatMessage.system(system).to_openai(), ChatMessage.user(goal).to_openai()]


def task_goal(run: AgentRun) -> str:
    """The run's task as the model reads it, or the goal its payload names."""
    task = run.task
    if task is None:
        return str(run.payload.get("goal", ""))
    parts = [f"Task {task.key}: {task.name}", task.description]
    files = task.shaped_files()
    if files:
        parts.append("Files: " + ", ".join(files))
    if task.verify:
        parts.append(f"Verify with: {task.verify}")
    if task.done_criteria:
        parts.append(f"Done when: {task.done_criteria}")
    return "\n\n".join(p for p in parts if p)


def review_goal(run: AgentRun, *, base_branch: str, attempt_branch: str) -> str:
    """What a reviewer agent is asked: the task, what it must achieve, and the branch."""
    task = run.task
    assert task is not None  # a review is of a task's attempt
    parts = [
        f"Review the change made for task {task.key}: {task.name}",
        task.description,
        f"Done when: {task.done_criteria}" if task.done_criteria else "",
    ]
    must_haves = task.sub_feature.shaped_must_haves() if task.sub_feature is not None else None
    if must_haves:
        parts.append("The plan's must-haves for this part:\n" + json.dumps(must_haves, indent=2))
    parts.append(
        f"The work is on branch {attempt_branch}, checked out in your worktree; the base "
        f"branch is {base_branch}. Read the diff with git_diff and the code around it. Then "
        "call review_submit: approve it, or request changes with a comment on each line "
        "that needs work. Its checks have passed already; judge what they cannot."
    )
    return "\n\n".join(p for p in parts if p)
