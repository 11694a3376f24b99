"""A project's git repository: checking the checkout it names, and cloning its URL.

`root_path` is the user's own checkout. Crewboard only reads it and adds worktrees from
it, so saving a project checks that it is a git work tree with the base branch. A
project with a `repository_url` and no `root_path` gets a clone of its own under
settings.REPOS_DIR/<slug>, which becomes its root_path. Blank both: a project without
a repository (plans only).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from core import git
from core.errors import DomainError

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
# How many branch names an error lists when the base branch is missing.
BRANCHES_SHOWN = 8
REMOTE_CHECK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RepositoryPlan:
    """What saving a project does with its repository: nothing, take up `root_path` (a
    clone made before), or clone `clone_url` there first."""

    root_path: Path | None = None
    clone_url: str = ""
    branch: str = ""


def project_repository_check(
    *, slug: str, root_path: str, base_branch: str, repository_url: str
) -> RepositoryPlan:
    """Check the repository fields a project is about to be saved with; say what to clone.

    Reads only (a remote is asked for its branches). Raises DomainError naming the field
    and what is wrong: root_path not absolute, missing, or not a git work tree; the base
    branch missing from it; a repository URL that cannot be cloned or lacks the branch.
    """
    if not base_branch.strip():
        raise DomainError("The base branch cannot be empty.", field="base_branch")
    if root_path:
        _check_root_path(root_path, base_branch)
        return RepositoryPlan()
    if not repository_url:
        return RepositoryPlan()
    problem = git.clone_source_error(repository_url)
    if problem:
        raise DomainError(f"repository_url {problem}", field="repository_url")
    dest = clone_destination(slug)
    if dest.exists():
        if _is_clone_of(dest, repository_url):
            _check_root_path(str(dest), base_branch)
            return RepositoryPlan(root_path=dest)  # cloned before: taken up again
        raise DomainError(
            f"{dest} already exists and is not a clone of {repository_url}; "
            "move it away or set root_path.",
            field="repository_url",
        )
    try:
        branches = git.remote_branches(repository_url, timeout_s=REMOTE_CHECK_TIMEOUT_S)
    except git.GitError as exc:
        raise DomainError(
            f"repository_url {repository_url} cannot be read: {exc.message}",
            field="repository_url",
        ) from exc
    if base_branch not in branches:
        raise DomainError(
            f"base branch {base_branch!r} does not exist in {repository_url}{_listing(branches)}",
            field="base_branch",
        )
    return RepositoryPlan(root_path=dest, clone_url=repository_url, branch=base_branch)


def clone_destination(slug: str) -> Path:
    """Where a project's clone goes: settings.REPOS_DIR/<slug>. Raises DomainError for a
    slug that would lead out of that folder."""
    if not SLUG_RE.match(slug):
        raise DomainError(f"{slug!r} is not a valid slug.", field="slug")
    return Path(settings.REPOS_DIR) / slug


def project_repository_clone(*, plan: RepositoryPlan) -> Path | None:
    """Clone what `plan` says into its folder and return that folder (None: nothing was
    cloned). A failed clone leaves nothing behind. Raises DomainError with git's reason."""
    if not plan.clone_url or plan.root_path is None:
        return None
    try:
        git.clone(plan.clone_url, plan.root_path, branch=plan.branch)
    except git.GitError as exc:
        raise DomainError(exc.message, field="repository_url") from exc
    return plan.root_path


def project_repository_discard(path: Path | None) -> None:
    """Remove a clone made for a project whose save then failed."""
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def _check_root_path(root_path: str, base_branch: str) -> None:
    path = Path(root_path)
    if not path.is_absolute():
        raise DomainError(f"root_path {root_path} must be an absolute path", field="root_path")
    try:
        exists = path.is_dir()
    except OSError:  # a name the system refuses (a part over 255 bytes, say)
        exists = False
    if not exists:
        raise DomainError(f"root_path {root_path} does not exist", field="root_path")
    if not git.is_work_tree(path):
        raise DomainError(f"root_path {root_path} is not a git work tree", field="root_path")
    if not git.branch_exists(path, base_branch):
        raise DomainError(
            f"base branch {base_branch!r} does not exist in {root_path}"
            f"{_listing(_local_branches(path))}",
            field="base_branch",
        )


def _local_branches(path: Path) -> list[str]:
    try:
        out = git.git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=path)
    except git.GitError:
        return []
    return out.splitlines()


def _is_clone_of(path: Path, url: str) -> bool:
    try:
        return git.git("config", "--get", "remote.origin.url", cwd=path) == url
    except git.GitError:
        return False


def _listing(branches: list[str]) -> str:
    if not branches:
        return " (it has no branches)"
    shown = ", ".join(sorted(branches)[:BRANCHES_SHOWN])
    more = f" and {len(branches) - BRANCHES_SHOWN} more" if len(branches) > BRANCHES_SHOWN else ""
    return f" (its branches: {shown}{more})"
