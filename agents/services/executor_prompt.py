"""What a coding CLI is told: the task, how it is checked, the plan around it, what
earlier agents learned, the last failed check, and how to report back.

The prompt is written to a file in the worktree's private git folder (it is not part of
the change, goes away with the worktree, and stays readable inside the sandbox) and is
also given on the command line to CLIs that take it there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.models import AgentRun
from memory import selectors as memory_selectors

PROMPT_NAME = "crewboard-prompt.md"
MEMORY_FACTS = 8
# The CLI's argv carries the prompt: Linux caps one argument at 128 KiB.
MAX_PROMPT_CHARS = 100_000
FEEDBACK_CHARS = 8000


def _must_haves(value: Any) -> list[str]:
    """GSD's must-haves ({truths, artifacts, key_links}) as bullet lines."""
    if not isinstance(value, dict):
        return [f"- {value}"] if value else []
    lines: list[str] = []
    for name, items in value.items():
        entries = items if isinstance(items, list) else [items]
        for entry in entries:
            if isinstance(entry, dict):
                entry = ", ".join(f"{key}: {item}" for key, item in entry.items())
            lines.append(f"- {name.replace('_', ' ')}: {entry}")
    return lines


def _section(title: str, body: str | list[str]) -> str:
    text = "\n".join(body) if isinstance(body, list) else body
    return f"## {title}\n\n{text.strip()}" if text.strip() else ""


def _reporting_back(run: AgentRun, api_url: str) -> str:
    api = f"{api_url}/api/v1/projects/{run.project.slug}"
    lines = [
        "Work without waiting for answers: nobody may be there to give them. When you are "
        "done, commit your changes with git if your sandbox allows it (uncommitted changes "
        "in the worktree count too), and end with a short summary of what you changed and "
        "how you checked it: Crewboard reads your messages and tool calls from your output, "
        "then runs the checks itself. If the task cannot be done, say why and exit with an "
        "error.",
        "",
        "You may also talk to Crewboard's API (JSON bodies) with the key in the environment: "
        'send `Authorization: Agent $CREWBOARD_RUN_KEY` to `$CREWBOARD_URL` (here "'
        f'{api_url}"). The key works for this run ({run.pk}) only, until it ends:',
        f"- `GET {api}/agent/plan/`, `GET {api}/agent/tasks/<key>/`: read the plan and a task",
        f"- `POST {api}/runs/{run.pk}/tool-calls/` "
        '`{"call_id", "tool_name", "input", "status", "output"}`: report a tool call',
        f'- `POST {api}/runs/{run.pk}/decisions/` `{{"decision", "reasoning"}}`: log a decision',
        f'- `POST {api}/agent/memory/` `{{"subject", "learned"}}`: remember a fact for later '
        f"agents; `GET {api}/agent/memory/?q=words` to recall",
        f'- `POST {api}/runs/{run.pk}/questions/` `{{"question", "options"}}`: ask a person; '
        f"the answer arrives later at `GET {api}/agent/questions/<key>/`",
        "It cannot claim, complete or fail work: your exit code and the checks decide that.",
    ]
    return "\n".join(lines)


def executor_prompt(*, run: AgentRun, api_url: str) -> str:
    """The prompt for the run's coding CLI (the run's agent, project and task loaded),
    telling it how to reach Crewboard's API at `api_url` with its run key."""
    task = run.task
    project = run.project
    agent = run.agent
    title = f"# Task {task.key}: {task.name}" if task else "# Your task"
    parts = [
        title,
        f"You are {agent.name}, a {agent.type} agent working for Crewboard on the project "
        f'"{project.name}". You work in the git worktree {run.worktree_path} on branch '
        f"{run.branch_name or 'of your own'}; change files only there.",
    ]
    if task is None:
        parts.append(_section("What to do", str(run.payload.get("goal", ""))))
    else:
        parts.append(_section("What to do", task.description or task.name))
        files = task.shaped_files()
        parts.append(_section("Files", [f"- {name}" for name in files]))
        checks = [task.verify.strip()] if task.verify.strip() else []
        if project.verify_command.strip():
            checks.append(f"Then the project's checks: `{project.verify_command.strip()}`")
        parts.append(_section("How your work is checked", checks))
        parts.append(_section("Done when", task.done_criteria))
        sub_feature = task.sub_feature
        if sub_feature is not None:
            plan = [f"Sub-feature {sub_feature.key}: {sub_feature.name}"]
            if sub_feature.objective:
                plan.append(f"Objective: {sub_feature.objective}")
            must = _must_haves(sub_feature.shaped_must_haves())
            if must:
                plan += ["Must-haves:", *must]
            parts.append(_section("The plan around it", plan))
        facts = memory_selectors.memory_fact_search(
            project=project, query=f"{task.name} {' '.join(files)}", limit=MEMORY_FACTS
        )
        parts.append(
            _section(
                "What earlier agents learned",
                [f"- {fact.subject}: {fact.body.get('learned', '')}" for fact in facts],
            )
        )
    feedback = run.payload.get("feedback") or []
    if feedback:
        last = str(feedback[-1].get("content", ""))[-FEEDBACK_CHARS:]
        # Its checks failed, a review asked for changes, or it no longer merges.
        parts.append(_section("What was said of your last attempt", last))
    parts.append(_section("Reporting back", _reporting_back(run, api_url)))
    prompt = "\n\n".join(part for part in parts if part) + "\n"
    if len(prompt) > MAX_PROMPT_CHARS:
        prompt = prompt[: MAX_PROMPT_CHARS - 20] + "\n[prompt cut]\n"
    return prompt


def prompt_file_write(*, worktree: Path, git_dir: Path | None, text: str) -> Path:
    """Write the prompt beside the worktree's git metadata (or, for a folder that is no
    git worktree, in a hidden file inside it) and return its path."""
    folder = git_dir if git_dir is not None and git_dir.is_dir() else worktree
    path = folder / (PROMPT_NAME if folder != worktree else f".{PROMPT_NAME}")
    path.write_text(text, encoding="utf-8")
    return path
