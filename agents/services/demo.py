"""The coding demo: a small Python package with a failing test, made into a git
repository under var/, and a project whose one task is to make the test pass.

With a model that writes code (LLM_PROVIDER=openai) or a coding CLI on PATH (Claude Code,
Codex), running the project codes the task, verifies it and leaves it waiting for review.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from agents.models import Agent
from agents.services.agents import agent_create
from agents.workspaces.executors import executor_check
from core import git
from planning import services as planning_services
from planning.models import Executor, Project

DEMO_SLUG = "calculator-demo"
DEMO_SOURCE = Path(__file__).resolve().parents[1] / "demo" / "calculator"
CHECK = "python3 -m unittest discover -s tests"
CODE_TOOLS = [
    "read_file",
    "write_file",
    "edit_file",
    "list_files",
    "search_code",
    "run_command",
    "git_diff",
    "git_commit",
]
# The first coding CLI found on PATH codes the demo; else the built-in loop.
PREFERRED_EXECUTORS = (Executor.CLAUDE_CODE, Executor.CODEX)


def demo_repository_ensure(path: Path) -> Path:
    """Make the demo package a git repository at `path` (one commit on `main`) unless
    one is there already. Raises git.GitError when git cannot make it."""
    if (path / ".git").exists():
        return path
    if path.exists():
        shutil.rmtree(path)  # a half-made one from an interrupted run
    shutil.copytree(DEMO_SOURCE, path, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        identity = ("-c", "user.name=Crewboard", "-c", "user.email=demo@crewboard.invalid")
        git.git("init", "-q", "-b", "main", cwd=path)
        git.git("add", "-A", cwd=path)
        git.git(*identity, "commit", "-q", "-m", "A statistics package", cwd=path)
    except git.GitError:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


def _demo_executor() -> str:
    for executor in PREFERRED_EXECUTORS:
        if executor_check(executor) is None:
            return executor
    return Executor.BUILTIN


def coding_demo_ensure(*, owner: User, path: Path | None = None) -> Project | None:
    """Create the demo repository and its project (one task, one coder), once: not when
    the project exists, nor when its repository does (someone deleted the project).
    Returns the new project, or None."""
    path = path or settings.DEMO_REPOSITORY_DIR
    if Project.objects.filter(slug=DEMO_SLUG).exists() or (path / ".git").exists():
        return None
    repo = demo_repository_ensure(path)
    try:
        return _demo_project_create(owner, repo)
    except BaseException:
        shutil.rmtree(repo, ignore_errors=True)
        raise


@transaction.atomic
def _demo_project_create(owner: User, repo: Path) -> Project:
    project = planning_services.project_create(
        owner=owner,
        name="Calculator (demo)",
        slug=DEMO_SLUG,
        description="A coding demo: a small package whose test fails. Run the project "
        "and a coder fixes it in a worktree of its own; the checks decide.",
        root_path=str(repo),
        base_branch="main",
        enabled_tools=CODE_TOOLS,
    )
    planning_services.task_create(
        project=project,
        key="CALC-1",
        name="mean() of an empty list returns 0.0",
        description="`mean([])` raises ZeroDivisionError. Make it return 0.0, as its "
        "docstring says and tests/test_stats.py expects; change nothing else.",
        files=["calc/stats.py"],
        verify=f"`{CHECK}` passes",
        done_criteria="All tests pass.",
    )
    agent_create(project=project, name="coder", type=Agent.Type.CODER, executor=_demo_executor())
    return project
