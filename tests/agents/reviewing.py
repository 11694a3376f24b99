"""Verified work waiting for review, made directly: a branch with a commit in a real
repository, its worktree, and the succeeded coding run whose attempt it is."""

from pathlib import Path

from django.utils import timezone

from agents.models import AgentRun, Workspace
from planning.models import Project, Task
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory
from tests.gitrepos import run_git


def attempt_in_review(
    project: Project,
    repo: Path,
    *,
    key: str,
    files: dict[str, str],
    worktrees: Path,
    agent=None,
    message: str = "",
) -> tuple[Task, AgentRun]:
    """Task `key` in review, its attempt's branch `crewboard/<key>-1` holding `files`
    changed from main in one commit, checked out in a worktree under `worktrees`."""
    agent = agent or AgentFactory(project=project, name=f"coder-{key}", type="coder")
    task = TaskFactory(project=project, key=key, name=f"Work on {key}", status="review")
    branch = f"crewboard/{key}-1"
    base = run_git(repo, "rev-parse", "main")
    path = worktrees / key
    path.parent.mkdir(parents=True, exist_ok=True)
    run_git(repo, "worktree", "add", "-q", "-b", branch, str(path), "main")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    run_git(path, "add", "-A")
    run_git(path, "commit", "-q", "-m", message or f"{key}: the work")
    now = timezone.now()
    run = AgentRunFactory(
        project=project,
        agent=agent,
        task=task,
        status="succeeded",
        started_at=now,
        finished_at=now,
        worktree_path=str(path),
        branch_name=branch,
    )
    Workspace.objects.create(
        project=project,
        task=task,
        run=run,
        path=str(path),
        branch=branch,
        base_branch="main",
        base_commit=base,
    )
    Task.objects.filter(pk=task.pk).update(worktree_path=str(path), branch_name=branch)
    task.refresh_from_db()
    return task, run
