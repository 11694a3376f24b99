"""A merge's commits in the repository: their message and author, the check that the
branch is still what was approved, whether an earlier delivery's commit is on the base
branch, and the merged attempt's worktree and branch tidied away. The merge's status is
its owner's, agents/services/merges.py.
"""

from __future__ import annotations

from pathlib import Path

from agents.models import Merge, Workspace
from agents.services import workspaces
from core import git
from core.errors import DomainError


def merge_landed(repo: Path, merge: Merge) -> bool:
    """Whether the commit recorded by an earlier delivery is on the base branch now."""
    try:
        git.git("merge-base", "--is-ancestor", merge.merge_commit, merge.base_branch, cwd=repo)
    except git.GitError:
        return False
    return True


def merge_message(merge: Merge) -> str:
    """The merge commit's message, and its pull request's body: the task, and the branch."""
    task = merge.task
    lines = [f"{task.key}: {task.name}"]
    if task.description:
        lines += ["", task.description.strip()[:2000]]
    lines += ["", f"Merged by Crewboard from {merge.branch}."]
    return "\n".join(lines)


def merge_head_check(merge: Merge, repo: Path) -> None:
    """What merges is what was approved: a branch that moved since is refused."""
    head = git.branch_head(repo, merge.branch)
    if merge.head_commit and head != merge.head_commit:
        raise DomainError(
            f"{merge.branch} moved since it was approved (from {merge.head_commit[:12]} to "
            f"{head[:12]}): review it again."
        )


# Merges are Crewboard's commits, whatever identity the repository has configured.
CREWBOARD = git.Identity(name="Crewboard", email="crewboard@localhost")


def merge_author(merge: Merge) -> git.Identity:
    """Who a squash or merge commit is by: the person who approved it, or Crewboard."""
    person = merge.merged_by
    if person is None:
        return CREWBOARD
    name = person.get_full_name() or person.get_username()
    return git.Identity(name=name, email=person.email or f"{person.get_username()}@crewboard")


def merge_tidy(merge: Merge, repo: Path) -> None:
    """The merged attempt's worktree goes, and its branch unless the project keeps them."""
    for workspace in Workspace.objects.filter(task=merge.task, status=Workspace.Status.ACTIVE):
        workspaces.workspace_remove(workspace=workspace, reason="merged")
    # Only Crewboard's own branches, and only while they hold what was merged: an external
    # agent's branch may be someone's.
    if not merge.project.keep_branches and merge.branch.startswith(workspaces.BRANCH_PREFIX):
        git.branch_delete_if_at(repo, merge.branch, merge.head_commit)
