"""Diffs of a worktree against its base commit: committed, uncommitted and untracked
changes alike (ignored files not)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.git import git, rev_parse


@dataclass(frozen=True)
class DiffStat:
    files: int
    insertions: int
    deletions: int


@dataclass(frozen=True)
class FileChange:
    path: str
    insertions: int
    deletions: int
    binary: bool


def changed_files(worktree: Path | str, base: str) -> list[str]:
    """Paths that differ between commit `base` and the work tree, committed or not,
    untracked files included (ignored ones not). Raises GitError."""
    out = _diff_against(worktree, base, "--name-only", "-z")
    return [name for name in out.split("\0") if name]


def diff_files(worktree: Path | str, base: str) -> list[FileChange]:
    """Each file changed between `base` and the work tree, with lines added/removed
    (binary files count as changed with no lines). Raises GitError."""
    changes = []
    out = _diff_against(worktree, base, "--numstat", "-z", "--no-renames")
    for record in out.split("\0"):
        if not record:
            continue
        added, removed, path = record.split("\t", 2)
        changes.append(
            FileChange(
                path=path,
                insertions=int(added) if added.isdigit() else 0,
                deletions=int(removed) if removed.isdigit() else 0,
                binary=not added.isdigit(),
            )
        )
    return changes


def diff_stat(worktree: Path | str, base: str) -> DiffStat:
    """Files changed and lines added/removed between `base` and the work tree, as
    `changed_files` counts them (binary files count as changed with no lines)."""
    changes = diff_files(worktree, base)
    return DiffStat(
        files=len(changes),
        insertions=sum(c.insertions for c in changes),
        deletions=sum(c.deletions for c in changes),
    )


def diff_text(worktree: Path | str, base: str) -> str:
    """The patch from `base` to the work tree, untracked files included."""
    return _diff_against(worktree, base, "--no-color", "--no-ext-diff")


def _diff_against(worktree: Path | str, base: str, *options: str) -> str:
    # Untracked files only show in a diff once added. Adding them to a copy of the index
    # leaves the worktree's own index (and so `git status` there) as it was.
    index = Path(git("rev-parse", "--git-path", "index", cwd=worktree))
    index = index if index.is_absolute() else Path(worktree) / index
    with tempfile.TemporaryDirectory(prefix="crewboard-index-") as tmp:
        scratch = Path(tmp) / "index"
        if index.exists():
            shutil.copyfile(index, scratch)
        env = {"GIT_INDEX_FILE": str(scratch)}
        git("add", "-A", "--", ".", cwd=worktree, env=env)
        return git("diff", "--cached", *options, rev_parse(worktree, base), cwd=worktree, env=env)
