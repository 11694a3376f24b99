"""Moving a project's base branch to a merge's result, safely for the user's checkout.

When a checkout (the user's own, or another worktree of theirs) has the base branch
checked out, it moves exactly as `git merge --ff-only` moves it, and only when it has no
uncommitted changes: its files, index and branch all end at the new commit, and
`git status` stays clean. Otherwise the branch ref alone moves, compare-and-swap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.git import _NO_HOOKS, GitError, common_dir, git
from core.git.merges import (
    Identity,
    MergeError,
    MergeResult,
    Strategy,
    _some,
    branch_head,
    merge_commit_create,
)
from core.git.worktrees import repository_lock, worktree_list

AdvanceOutcome = Literal["fast_forwarded", "ref_moved", "unchanged", "waiting"]

# `git merge` must not run the user's post-merge hook, start a gc in their checkout, stash
# their work or print a diffstat nobody reads; ignored files it would overwrite are
# theirs too (.env, say), so it refuses those as it refuses untracked ones.
_FAST_FORWARD = (
    *_NO_HOOKS,
    *("-c", "core.quotePath=false", "-c", "gc.auto=0", "-c", "maintenance.auto=false"),
    "merge", "--ff-only", "--quiet", "--no-stat", "--no-overwrite-ignore", "--no-autostash",
    "--no-verify-signatures",
)  # fmt: skip
# What `git merge` refuses for the user's sake, and what they are asked to do about it.
_REFUSALS = (
    ("untracked working tree files would be overwritten", "untracked files where the merge "
     "adds files ({files}); move or remove them"),
    ("local changes to the following files would be overwritten", "uncommitted changes to "
     "{files}; commit or stash them"),
    ("MERGE_HEAD exists", "a merge of its own under way; finish or abort it"),
    ("not concluded your", "a merge of its own under way; finish or abort it"),
    ("is not finished", "a cherry-pick or revert under way; finish or abort it"),
)  # fmt: skip


class BaseMoved(MergeError):
    """The base branch no longer points where the merge was made: someone committed."""

    def __init__(self, base: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{base} moved from {expected[:12]} to {actual[:12]} while the merge was made; "
            "nothing was changed"
        )
        self.base, self.expected, self.actual = base, expected, actual


@dataclass(frozen=True)
class Advance:
    """How the base branch moved: a checkout of it fast-forwarded, the ref alone moved (no
    checkout has it), nothing to move, or waiting on the user (`reason`, `files`)."""

    outcome: AdvanceOutcome
    base: str
    old: str
    new: str
    checkout: Path | None = None  # the checkout moved, or the one the merge waits on
    files: tuple[str, ...] = ()
    reason: str = ""

    @property
    def moved(self) -> bool:
        return self.outcome in ("fast_forwarded", "ref_moved")


@dataclass(frozen=True)
class Merged:
    result: MergeResult
    advance: Advance


def base_advance(
    repo: Path | str, *, base: str, old: str, new: str, reflog: str = "Crewboard: merge"
) -> Advance:
    """Move branch `base` from commit `old` to `new`, a descendant of it, as a
    fast-forward; a checkout of `base` with local changes leaves everything where it is
    and gives a "waiting" Advance that says why. `reflog` names the move in git's reflog.

    Raises BaseMoved (`base` is no longer at `old`), BranchNotFound, GitError (`new`
    does not follow `old`).
    """
    with repository_lock(repo):
        current = branch_head(repo, base)
        if current != old:
            raise BaseMoved(base, old, current)
        if new == old:
            return Advance("unchanged", base, old, new)
        rebasing = _rebase_under_way(repo, base)
        if rebasing is not None:
            return Advance(
                "waiting", base, old, new, checkout=rebasing,
                reason=f"The checkout at {rebasing} is rebasing {base}; finish or abort the "
                "rebase, then merge again.",
            )  # fmt: skip
        checkouts = [w.path for w in worktree_list(repo) if w.branch == base and not w.prunable]
        if len(checkouts) > 1:
            where = ", ".join(str(path) for path in checkouts)
            return Advance(
                "waiting", base, old, new, checkout=checkouts[0],
                reason=f"{base} is checked out in more than one place ({where}); Crewboard "
                "moves it only when a single checkout holds it",
            )  # fmt: skip
        if checkouts:
            return _checkout_advance(repo, checkouts[0], base=base, old=old, new=new,
                                     reflog=reflog)  # fmt: skip
        _ref_advance(repo, base=base, old=old, new=new, reflog=reflog)
        return Advance("ref_moved", base, old, new)


def branch_merge(
    repo: Path | str,
    *,
    base: str,
    branch: str,
    strategy: Strategy,
    message: str,
    author: Identity | None = None,
    committer: Identity | None = None,
) -> Merged:
    """Make the merge of `branch` (`merge_commit_create`) and move `base` to it
    (`base_advance`), holding the repository's lock throughout: two merges into one
    repository go one after the other, the second made on the first's result.

    Raises MergeConflict (nothing moved), BaseMoved (someone committed to `base`
    meanwhile: try once more), BranchNotFound, GitError.
    """
    with repository_lock(repo):
        result = merge_commit_create(
            repo, base=base, branch=branch, strategy=strategy, message=message,
            author=author, committer=committer,
        )  # fmt: skip
        advance = base_advance(repo, base=base, old=result.base, new=result.commit,
                               reflog=f"Crewboard: {strategy} {branch}")  # fmt: skip
    return Merged(result=result, advance=advance)


def _checkout_advance(
    repo: Path | str, checkout: Path, *, base: str, old: str, new: str, reflog: str
) -> Advance:
    status = git("status", "--porcelain=v2", "--branch", "-z", "--untracked-files=no",
                 cwd=checkout)  # fmt: skip
    head, commit, changed = _status_read(status)
    if head != base:
        # Switched away since the worktree list was read: the ref is nobody's checkout.
        _ref_advance(repo, base=base, old=old, new=new, reflog=reflog)
        return Advance("ref_moved", base, old, new)
    if commit != old:
        raise BaseMoved(base, old, commit)
    if changed:
        return _waiting(base, old, new, checkout, changed, "uncommitted changes to {files}; "
                        "commit or stash them")  # fmt: skip
    try:
        # Its own ref update is compare-and-swap against the HEAD it read, which is `old`.
        git(*_FAST_FORWARD, new, cwd=checkout, env={"GIT_REFLOG_ACTION": reflog},
            retry_locked=True)  # fmt: skip
    except GitError as exc:
        for words, why in _REFUSALS:
            if words in exc.stderr:
                listed = [line[1:] for line in exc.stderr.splitlines() if line.startswith("\t")]
                return _waiting(base, old, new, checkout, listed, why)
        now = branch_head(repo, base)
        if now != old:
            raise BaseMoved(base, old, now) from exc
        raise
    return Advance("fast_forwarded", base, old, new, checkout=checkout)


def _ref_advance(repo: Path | str, *, base: str, old: str, new: str, reflog: str) -> None:
    try:
        git("merge-base", "--is-ancestor", old, new, cwd=repo)
    except GitError as exc:
        if exc.returncode == 1:
            raise MergeError(
                f"{new[:12]} does not follow {old[:12]}: moving {base} there would lose commits"
            ) from exc
        raise
    try:
        git("update-ref", "-m", reflog, f"refs/heads/{base}", new, old, cwd=repo,
            retry_locked=True)  # fmt: skip
    except GitError as exc:
        now = branch_head(repo, base)
        if now != old:
            raise BaseMoved(base, old, now) from exc
        raise


def _rebase_under_way(repo: Path | str, base: str) -> Path | None:
    """The checkout rebasing `base`, if one is (`git pull --rebase` stopped on a conflict,
    say). Its HEAD is detached meanwhile, so no worktree lists the branch, yet finishing
    the rebase would move it back over the merge."""
    common = common_dir(repo)
    for git_dir in (common, *(common / "worktrees").glob("*")):
        for state in ("rebase-merge", "rebase-apply"):
            try:
                head_name = (git_dir / state / "head-name").read_text().strip()
            except OSError:
                continue
            if head_name == f"refs/heads/{base}":
                if git_dir == common:
                    return common.parent
                return Path((git_dir / "gitdir").read_text().strip()).parent
    return None


def _status_read(out: str) -> tuple[str, str, list[str]]:
    """`git status --porcelain=v2 --branch -z`: the branch, its commit, the paths changed."""
    head = commit = ""
    changed: list[str] = []
    records = iter(out.split("\0"))
    for record in records:
        kind = record[:2]
        if record.startswith("# branch.head "):
            head = record.removeprefix("# branch.head ")
        elif record.startswith("# branch.oid "):
            commit = record.removeprefix("# branch.oid ")
        elif kind == "1 ":
            changed.append(record.split(" ", 8)[8])
        elif kind == "2 ":
            changed.append(record.split(" ", 9)[9])
            next(records, None)  # the path it was renamed from
        elif kind == "u ":
            changed.append(record.split(" ", 10)[10])
    return head, commit, changed


def _waiting(base: str, old: str, new: str, checkout: Path, files: list[str], why: str) -> Advance:
    why = why.format(files=_some(files))
    reason = f"The checkout at {checkout} has {base} checked out with {why}, then merge again."
    return Advance("waiting", base, old, new, checkout=checkout, files=tuple(files),
                   reason=reason)  # fmt: skip
