"""A repository's worktrees: listing, adding, removing and pruning them, one process at
a time per repository (`repository_lock`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.git import _NO_HOOKS, CLONE_TIMEOUT_S, GitError, common_dir, git


@dataclass(frozen=True)
class Worktree:
    path: Path
    head: str
    branch: str  # "" when detached
    prunable: bool


def worktree_list(repo: Path | str) -> list[Worktree]:
    """The repository's worktrees, the main one first."""
    with repository_lock(repo):
        out = git("worktree", "list", "--porcelain", "-z", cwd=repo)
    found: list[Worktree] = []
    for block in out.split("\0\0"):
        fields = [line.partition(" ") for line in block.split("\0") if line]
        if not fields:
            continue
        values = {key: value for key, _, value in fields}
        found.append(
            Worktree(
                path=Path(values.get("worktree", "")),
                head=values.get("HEAD", ""),
                branch=values.get("branch", "").removeprefix("refs/heads/"),
                prunable="prunable" in values,
            )
        )
    return found


# Writes (never to the user's checkout: only the repository's shared .git) ----------------


# The repositories whose lock this thread holds. A merge holds the lock across its steps
# and lists worktrees inside it; a second flock on a new descriptor would wait on the
# first forever.
_held = threading.local()


@contextlib.contextmanager
def repository_lock(repo: Path | str) -> Iterator[None]:
    """Hold the repository's lock: one process (or thread) at a time changes or reads its
    list of worktrees, or moves a branch for a merge. A thread that holds it already
    goes straight through.

    Two `git worktree add` at once are not safe: each reads every worktree's record
    while the other is half-way through writing its own ("failed to read
    .git/worktrees/x/commondir"). The lock is an flock on the repository's .git folder
    itself, so no file is written for it. Raises GitError.
    """
    key = os.path.realpath(common_dir(repo))
    held: set[str] = _held.__dict__.setdefault("repositories", set())
    if key in held:
        yield
        return
    fd = os.open(key, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(key)
        yield
    finally:
        held.discard(key)
        os.close(fd)  # closing releases the lock


def worktree_add(
    repo: Path | str, path: Path | str, *, branch: str, base: str, reset_branch: bool = False
) -> None:
    """Check out commit `base` into a new worktree at `path` on a new branch `branch`.

    `reset_branch` moves an existing branch of that name (one left by a half-made earlier
    attempt); git still refuses when it is checked out elsewhere. Raises GitError; a
    worktree whose files could not be checked out is removed again.
    """
    # Registered under the lock, which is quick; the files, which take the time, are
    # checked out after it, so several worktrees of one repository fill in at once.
    # (`git worktree add` itself checks out with the same `reset --hard`.)
    with repository_lock(repo):
        git(*_NO_HOOKS, "worktree", "add", "--no-checkout", "--no-track",
            "-B" if reset_branch else "-b", branch, str(path), base,
            cwd=repo, retry_locked=True)  # fmt: skip
    try:
        git(*_NO_HOOKS, "reset", "--hard", "--quiet", "--no-recurse-submodules",
            cwd=path, timeout_s=CLONE_TIMEOUT_S)  # fmt: skip
    except GitError:
        with contextlib.suppress(GitError):
            worktree_remove(repo, path)
        raise


def worktree_remove(repo: Path | str, path: Path | str) -> None:
    """Remove the worktree at `path`, with its uncommitted changes; its branch stays.

    Raises GitError (the directory is not one of the repository's worktrees, say).
    """
    with repository_lock(repo):
        # Twice forced: a worktree locked by a crashed `git worktree add` goes as well.
        git(*_NO_HOOKS, "worktree", "remove", "--force", "--force", str(path),
            cwd=repo, timeout_s=CLONE_TIMEOUT_S, retry_locked=True)  # fmt: skip


def worktree_prune(repo: Path | str) -> None:
    """Forget worktrees whose directories are gone. Raises GitError."""
    with repository_lock(repo):
        git("worktree", "prune", cwd=repo, retry_locked=True)


def worktree_commit_all(path: Path | str, *, message: str) -> str | None:
    """Commit everything changed in the worktree at `path` (new files too, ignored ones
    not) and return the new commit, or None when there was nothing to commit. The
    repository's hooks do not run: the worktree's files are an agent's, not trusted."""
    if not git("status", "--porcelain", "--untracked-files=all", cwd=path):
        return None
    git("add", "--all", cwd=path)
    git(
        *_NO_HOOKS,
        "-c",
        "user.name=Crewboard",
        "-c",
        "user.email=crewboard@localhost",
        "commit",
        "--no-verify",
        "--quiet",
        "-m",
        message,
        cwd=path,
    )
    return git("rev-parse", "HEAD", cwd=path)
