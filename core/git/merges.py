"""Merging a task's branch into a project's base branch, computed in the object store
(`git merge-tree`, `git commit-tree`) so the user's checkout is never a work area.

The user's checkout changes only at the very end, and only as a fast-forward would
change it (`base_advance`). Until then nothing but unreferenced objects is written, so
a conflict or a failure leaves every branch, index and file as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.git import (
    DEFAULT_TIMEOUT_S,
    GitError,
    _last_lines,
    _run,
    _text,
    common_dir,
    git,
    git_environment,
)

Strategy = Literal["squash", "merge", "rebase"]
STRATEGIES: tuple[Strategy, ...] = ("squash", "merge", "rebase")

# Branch names read straight from the ref files: plain characters, no `..`, no component
# starting with a dot, nothing git's check-ref-format would refuse. Anything else asks git.
_PLAIN_BRANCH = re.compile(r"(?!.*\.\.)(?!.*\.lock(?:/|$))[\w-][\w.-]*(?:/[\w-][\w.-]*)*")
_OBJECT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


class MergeError(GitError):
    """A merge could not be made or landed; the message says why in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class BranchNotFound(MergeError):
    """The branch (a task's, or the base) is not in the repository: deleted, say."""

    def __init__(self, repo: Path | str, branch: str) -> None:
        super().__init__(f"branch {branch!r} does not exist in {repo}")
        self.branch = branch


class MergeConflict(MergeError):
    """The branch does not merge cleanly: `paths` conflict. `commit` is, for a rebase,
    the branch commit that did not apply."""

    def __init__(self, paths: list[str], *, commit: str = "") -> None:
        where = f" replaying {commit[:12]}" if commit else ""
        super().__init__(f"merge conflict{where} in {_some(paths)}")
        self.paths = paths
        self.commit = commit


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


@dataclass(frozen=True)
class MergeCheck:
    base: str  # the commit the base branch points at
    branch: str  # the commit the branch points at
    tree: str  # the merged tree; with conflicts it holds conflict markers
    conflicts: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not self.conflicts


@dataclass(frozen=True)
class MergeResult:
    strategy: Strategy
    base: str  # the base commit the merge was made on
    branch: str  # the branch commit merged
    commit: str  # where the base branch goes; `base` itself when the branch changes nothing
    commits: tuple[str, ...]  # the commits made, oldest first (a rebase makes several)

    @property
    def changed(self) -> bool:
        return self.commit != self.base


# Reads -------------------------------------------------------------------------------


def branch_head(repo: Path | str, branch: str) -> str:
    """The commit `branch` points at. Raises BranchNotFound.

    Read from the repository's ref files when the name is plain, so a merge check costs
    one git process, not two; any other name is resolved by git itself.
    """
    if _PLAIN_BRANCH.fullmatch(branch):
        common = common_dir(repo)
        try:
            loose = (common / "refs" / "heads" / branch).read_text()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            loose = None
        if loose is None:
            found = _packed_ref(common, f"refs/heads/{branch}")
            if found is None:
                raise BranchNotFound(repo, branch)
            return found
        if _OBJECT_ID.fullmatch(loose.strip()):
            return loose.strip()
    try:
        return git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}",
                   cwd=repo)  # fmt: skip
    except GitError as exc:
        if not Path(repo).is_dir():
            raise
        raise BranchNotFound(repo, branch) from exc


def merge_check(repo: Path | str, *, base: str, branch: str) -> MergeCheck:
    """Whether `branch` merges cleanly into `base`, and the merged tree, computed in the
    object store (the checkout is not read). Raises BranchNotFound, GitError."""
    base_commit, branch_commit = branch_head(repo, base), branch_head(repo, branch)
    tree, conflicts = _merge_tree(repo, base_commit, branch_commit)
    return MergeCheck(base=base_commit, branch=branch_commit, tree=tree, conflicts=conflicts)


def branch_commits(repo: Path | str, *, base: str, branch: str) -> list[str]:
    """The commits on `branch` that `base` lacks, oldest first. Raises BranchNotFound."""
    base_commit, branch_commit = branch_head(repo, base), branch_head(repo, branch)
    out = git("rev-list", "--reverse", "--topo-order", f"{base_commit}..{branch_commit}",
              cwd=repo)  # fmt: skip
    return out.split()


# Making the commits (objects only: no branch, index or file moves) --------------------


def merge_commit_create(
    repo: Path | str,
    *,
    base: str,
    branch: str,
    strategy: Strategy,
    message: str,
    author: Identity | None = None,
    committer: Identity | None = None,
) -> MergeResult:
    """The commit(s) that land `branch` on `base`, made without moving anything.

    squash: one commit of the merged tree on `base`, with `message` and `author`.
    merge: a merge commit with parents `base` and `branch`.
    rebase: each commit of the branch replayed on `base` with its own author, date and
    message, as `git rebase` does (merge commits are dropped, commits that become empty
    too); `message` and `author` are unused.
    A branch that changes nothing gives `commit == base`. Identities default to the
    repository's git config. Raises MergeConflict, BranchNotFound, GitError.
    """
    if strategy not in STRATEGIES:
        raise MergeError(f"unknown merge strategy {strategy!r}: one of {', '.join(STRATEGIES)}")
    if strategy == "rebase":
        base_commit, branch_commit = branch_head(repo, base), branch_head(repo, branch)
        tip, made = _replay(repo, onto=base_commit, tip=branch_commit, committer=committer)
        return MergeResult(strategy, base_commit, branch_commit, tip, made)
    check = merge_check(repo, base=base, branch=branch)
    if check.conflicts:
        raise MergeConflict(list(check.conflicts))
    if check.tree == tree_of(repo, check.base):
        return MergeResult(strategy, check.base, check.branch, check.base, ())
    parents = (check.base,) if strategy == "squash" else (check.base, check.branch)
    commit = commit_tree(
        repo, check.tree, parents=parents, message=message, author=author, committer=committer
    )
    return MergeResult(strategy, check.base, check.branch, commit, (commit,))


def tree_of(repo: Path | str, commit: str) -> str:
    """The tree id of `commit`. Raises GitError."""
    return git("rev-parse", "--verify", "--quiet", f"{commit}^{{tree}}", cwd=repo)


def commit_tree(
    repo: Path | str,
    tree: str,
    *,
    parents: tuple[str, ...],
    message: str,
    author: Identity | None = None,
    committer: Identity | None = None,
    author_date: str = "",
) -> str:
    """A new commit object (no branch moves): `tree` with `parents` and `message` as
    given, byte for byte. Raises GitError (no identity configured, say)."""
    env: dict[str, str] = {}
    if author is not None:
        env.update(GIT_AUTHOR_NAME=author.name, GIT_AUTHOR_EMAIL=author.email)
    if author_date:
        env["GIT_AUTHOR_DATE"] = author_date
    if committer is not None:
        env.update(GIT_COMMITTER_NAME=committer.name, GIT_COMMITTER_EMAIL=committer.email)
    # --no-gpg-sign: a signing key could prompt for its passphrase, and nobody is there.
    args = [arg for parent in parents for arg in ("-p", parent)]
    return git("commit-tree", "--no-gpg-sign", *args, "-m", message, tree, cwd=repo, env=env)


@dataclass(frozen=True)
class _Pick:
    commit: str
    parents: tuple[str, ...]
    tree: str
    author: Identity
    date: str  # raw: seconds and zone
    message: str


def _replay(
    repo: Path | str, *, onto: str, tip: str, committer: Identity | None
) -> tuple[str, tuple[str, ...]]:
    """Each commit of onto..tip replayed on `onto`; returns the last and those made."""
    head, head_tree = onto, tree_of(repo, onto)
    trees: dict[str, str] = {}
    made: list[str] = []
    for pick in _branch_log(repo, onto, tip):
        trees[pick.commit] = pick.tree
        if len(pick.parents) != 1:
            raise MergeError(f"{pick.commit[:12]} shares no history with the base branch")
        parent = pick.parents[0]
        if parent == head:
            # Already on the new base: kept as it is, committer and all, as git rebase does.
            head, head_tree = pick.commit, pick.tree
            continue
        # merge-tree picks its own merge base (git 2.39 has no --merge-base). A stand-in
        # for the new tip whose parent is the commit's own parent makes that parent the
        # base, so this is a cherry-pick's three-way merge, not one from the fork point.
        stand_in = commit_tree(
            repo, head_tree, parents=(parent,), message="", author=committer, committer=committer
        )
        tree, conflicts = _merge_tree(repo, stand_in, pick.commit)
        if conflicts:
            raise MergeConflict(list(conflicts), commit=pick.commit)
        if tree == head_tree and pick.tree != (trees.get(parent) or tree_of(repo, parent)):
            continue  # its change is on the base already; git rebase drops it too
        head = commit_tree(
            repo, tree, parents=(head,), message=pick.message, author=pick.author,
            committer=committer, author_date=f"@{pick.date}",
        )  # fmt: skip
        head_tree = tree
        made.append(head)
    return head, tuple(made)


def _branch_log(repo: Path | str, onto: str, tip: str) -> list[_Pick]:
    # One process for every commit's facts. NUL ends each field: no message holds one.
    fields = "%H%x00%P%x00%T%x00%an%x00%ae%x00%ad%x00%B%x00"
    out = git("rev-list", "--reverse", "--topo-order", "--no-merges", "--no-commit-header",
              "--date=raw", f"--format={fields}", f"{onto}..{tip}", cwd=repo)  # fmt: skip
    values = out.split("\0")
    picks = []
    for at in range(0, len(values) - 6, 7):
        commit, parents, tree, name, email, date, message = values[at : at + 7]
        picks.append(
            _Pick(
                commit=commit.lstrip("\n"),  # the newline rev-list ends each record with
                parents=tuple(parents.split()),
                tree=tree,
                author=Identity(name=name, email=email),
                date=date,
                message=message,
            )
        )
    return picks


def _merge_tree(repo: Path | str, ours: str, theirs: str) -> tuple[str, tuple[str, ...]]:
    # `git()` treats exit status 1 as a failure; here it means "merged, with conflicts",
    # and the tree and the conflicted paths are on stdout all the same.
    args = ("merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs)
    if not Path(repo).is_dir():
        raise GitError(f"{repo} does not exist or is not a directory")
    done = _run(args, cwd=repo, timeout_s=DEFAULT_TIMEOUT_S, env=git_environment())
    if done.returncode not in (0, 1):
        stderr = _text(done.stderr)
        raise GitError(
            f"git merge-tree failed in {repo}: {_last_lines(stderr)}",
            stderr=stderr,
            returncode=done.returncode,
        )
    tree, *paths = _text(done.stdout).split("\0")
    return tree, tuple(path for path in paths if path)


def _packed_ref(common: Path, ref: str) -> str | None:
    try:
        packed = (common / "packed-refs").read_text()
    except FileNotFoundError:
        return None
    at = packed.find(f" {ref}\n")
    if at < 0:
        return None
    return packed[packed.rfind("\n", 0, at) + 1 : at]


def _some(paths: list[str] | tuple[str, ...], shown: int = 5) -> str:
    listed = ", ".join(paths[:shown])
    return f"{listed} and {len(paths) - shown} more" if len(paths) > shown else listed
