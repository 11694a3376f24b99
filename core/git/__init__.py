"""Plain git, run as a subprocess. Imports nothing of the project and no Django.

Every call strips the variables that point git at another repository (a GIT_DIR left by
a hook or a shell), never prompts for credentials, and takes no optional locks, so a
read never rewrites the user's index behind their back. Commands that change a
repository's shared state retry while another git holds one of its `.lock` files: two
runs adding worktrees to one repository at once must both succeed.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_TIMEOUT_S = 60.0
CLONE_TIMEOUT_S = 900.0
# How long a mutating command waits, in all, for another git to let go of a lock.
LOCK_WAIT_S = 30.0

# `git rev-parse --local-env-vars`: what locates a repository. Anything else (GIT_SSL_CAINFO,
# GIT_SSH_COMMAND, an author's name) is the caller's environment and passes through.
_LOCAL_ENV_VARS = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_SHALLOW_FILE",
        "GIT_COMMON_DIR",
        "GIT_QUARANTINE_PATH",
    }
)
# Another git holds the lock: "Unable to create '/r/.git/index.lock': File exists."
_LOCKED = re.compile(r"\.lock'?: File exists", re.IGNORECASE)
# A user's hooks (post-checkout, say) may write into their checkout; ours must not run
# them. Nor a file-system monitor a worktree's config could name: it is a program too.
_NO_HOOKS: tuple[str, ...] = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


class GitError(Exception):
    """A git command failed, timed out, or git is not installed; the message says which."""

    def __init__(self, message: str, *, stderr: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stderr = stderr
        self.returncode = returncode


def git_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without what would point git elsewhere, with prompts and optional locks off."""
    env = {k: v for k, v in os.environ.items() if k not in _LOCAL_ENV_VARS}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    env.update(extra or {})
    return env


def git(
    *args: str,
    cwd: Path | str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    retry_locked: bool = False,
) -> str:
    """Run `git *args` in `cwd` and return its stdout without the trailing newline.

    Raises GitError when git is missing, `cwd` is not a directory, the command times out
    or exits non-zero (the message carries git's own last lines).
    """
    if not Path(cwd).is_dir():
        raise GitError(f"{cwd} does not exist or is not a directory")
    deadline = time.monotonic() + LOCK_WAIT_S
    delay = 0.02
    while True:
        done = _run(args, cwd=cwd, timeout_s=timeout_s, env=git_environment(env))
        if done.returncode == 0:
            return _text(done.stdout).rstrip("\n")
        stderr = _text(done.stderr)
        locked = retry_locked and _LOCKED.search(stderr) is not None
        if not locked or time.monotonic() + delay > deadline:
            raise GitError(
                f"git {_command_name(args)} failed in {cwd}: {_last_lines(stderr)}",
                stderr=stderr,
                returncode=done.returncode,
            )
        # Jitter keeps two waiting writers from retrying in lockstep.
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 0.5)


def git_bytes(
    *args: str,
    cwd: Path | str,
    stdin: bytes | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> bytes:
    """Run `git *args` in `cwd`, feeding it `stdin`, and return its stdout as bytes,
    untouched: a file's bytes and its line endings are the caller's to decode.

    Raises GitError as `git` does.
    """
    if not Path(cwd).is_dir():
        raise GitError(f"{cwd} does not exist or is not a directory")
    done = _run(args, cwd=cwd, timeout_s=timeout_s, env=git_environment(), stdin=stdin)
    if done.returncode != 0:
        stderr = _text(done.stderr)
        raise GitError(
            f"git {_command_name(args)} failed in {cwd}: {_last_lines(stderr)}",
            stderr=stderr,
            returncode=done.returncode,
        )
    return done.stdout


def _text(output: bytes) -> str:
    # What text mode would give: invalid UTF-8 replaced, and every line ending a "\n".
    return output.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


def _run(
    args: Sequence[str],
    *,
    cwd: Path | str,
    timeout_s: float,
    env: dict[str, str],
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    try:
        # Its own process group: a timeout also ends what git started (a remote helper).
        proc = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        if shutil.which("git", path=env.get("PATH")) is None:
            raise GitError("git is not installed (no `git` on PATH)") from exc
        raise GitError(f"{cwd} does not exist") from exc
    except OSError as exc:
        raise GitError(f"git {_command_name(args)} could not start in {cwd}: {exc}") from exc
    # A timer ends the command on time rather than communicate(timeout=...): that one's
    # last step polls for the exit in sleeps of a millisecond and more, which was a
    # fifth of a quick command's time (a merge check's, say).
    expired = threading.Event()
    killer = threading.Timer(timeout_s, _expire, (proc, expired))
    killer.daemon = True
    killer.start()
    try:
        stdout, stderr = proc.communicate(input=stdin)
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        killer.cancel()
    if expired.is_set() and proc.returncode < 0:  # killed, not done just in time
        raise GitError(f"git {_command_name(args)} timed out after {timeout_s:g} s in {cwd}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _expire(proc: subprocess.Popen[bytes], expired: threading.Event) -> None:
    expired.set()
    _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # Not once git is reaped: its id could belong to another process by then.
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def _command_name(args: Sequence[str]) -> str:
    # Skip `-c key=value` pairs and other global options: the message names the command.
    it = iter(args)
    for arg in it:
        if arg == "-c":
            next(it, None)
        elif not arg.startswith("-"):
            # `worktree add` and `worktree remove` differ enough to name both words.
            return f"{arg} {next(it, '')}".strip() if arg == "worktree" else arg
    return " ".join(args)


def _last_lines(stderr: str, count: int = 3) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    # git's own verdict ("fatal: ...", "error: ...") says more than the advice after it.
    verdicts = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return " / ".join(verdicts[:count] or lines[-count:]) or "no message"


# Reads -------------------------------------------------------------------------------


def is_work_tree(path: Path | str) -> bool:
    """Whether `path` is a directory inside a git work tree (not a bare repository)."""
    try:
        return git("rev-parse", "--is-inside-work-tree", cwd=path) == "true"
    except GitError:
        return False


def toplevel(path: Path | str) -> Path:
    """The top directory of the work tree holding `path`. Raises GitError."""
    return Path(git("rev-parse", "--show-toplevel", cwd=path))


def common_dir(path: Path | str) -> Path:
    """The repository's shared .git directory (the same for all its worktrees)."""
    dot_git = Path(path) / ".git"
    if dot_git.is_dir() and (dot_git / "HEAD").is_file():
        return dot_git  # a checkout's top folder: no need to ask git
    found = Path(git("rev-parse", "--git-common-dir", cwd=path))
    return found if found.is_absolute() else (Path(path) / found).resolve()


def branch_exists(repo: Path | str, branch: str) -> bool:
    """Whether `branch` is a local branch of the repository at `repo`."""
    if not branch or branch.startswith("-"):
        return False
    try:
        git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", cwd=repo)
    except GitError:
        return False
    return True


def rev_parse(repo: Path | str, rev: str) -> str:
    """The commit id `rev` names. Raises GitError when it names no commit."""
    if rev.startswith("-"):
        raise GitError(f"{rev!r} is not a revision")
    try:
        return git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=repo)
    except GitError as exc:
        raise GitError(f"{rev!r} names no commit in {repo}", stderr=exc.stderr) from exc


def branch_delete(repo: Path | str, branch: str) -> None:
    """Delete local branch `branch`, merged or not. Raises GitError."""
    git("branch", "-D", "--", branch, cwd=repo, retry_locked=True)


def branch_create(repo: Path | str, branch: str, commit: str) -> None:
    """Make local branch `branch` point at `commit`, and nothing else: no checkout, so
    the user's HEAD, index and files stay as they are. Raises GitError, also when the
    branch exists already."""
    # A reference-transaction hook of the user's would run on the new ref: ours must not.
    git(*_NO_HOOKS, "branch", "--no-track", "--", branch, commit, cwd=repo, retry_locked=True)


def branch_delete_if_at(repo: Path | str, branch: str, commit: str) -> bool:
    """Delete local branch `branch` only while it still points at `commit` (checked and
    done by git in one step); returns whether it was deleted."""
    try:
        git(*_NO_HOOKS, "update-ref", "-d", f"refs/heads/{branch}", commit, cwd=repo)
    except GitError:
        return False
    return True


# The rest, by topic; everything is importable from here (`from core import git`).
from core.git.advances import Advance, BaseMoved, Merged, base_advance, branch_merge  # noqa: E402
from core.git.clones import CLONE_SCHEMES, clone, clone_source_error, remote_branches  # noqa: E402
from core.git.diffs import (  # noqa: E402
    DiffStat,
    FileChange,
    changed_files,
    diff_files,
    diff_stat,
    diff_text,
)
from core.git.merges import (  # noqa: E402
    STRATEGIES,
    BranchNotFound,
    Identity,
    MergeCheck,
    MergeConflict,
    MergeError,
    MergeResult,
    Strategy,
    branch_commits,
    branch_head,
    commit_tree,
    merge_check,
    merge_commit_create,
    tree_of,
)
from core.git.remotes import PUSH_TIMEOUT_S, branch_push  # noqa: E402
from core.git.worktrees import (  # noqa: E402
    Worktree,
    repository_lock,
    worktree_add,
    worktree_commit_all,
    worktree_list,
    worktree_prune,
    worktree_remove,
)

__all__ = [
    "CLONE_SCHEMES",
    "PUSH_TIMEOUT_S",
    "STRATEGIES",
    "Advance",
    "BaseMoved",
    "BranchNotFound",
    "DiffStat",
    "FileChange",
    "GitError",
    "Identity",
    "MergeCheck",
    "MergeConflict",
    "MergeError",
    "MergeResult",
    "Merged",
    "Strategy",
    "Worktree",
    "base_advance",
    "branch_commits",
    "branch_create",
    "branch_delete",
    "branch_delete_if_at",
    "branch_exists",
    "branch_head",
    "branch_merge",
    "branch_push",
    "changed_files",
    "clone",
    "clone_source_error",
    "commit_tree",
    "common_dir",
    "diff_files",
    "diff_stat",
    "diff_text",
    "git",
    "git_bytes",
    "git_environment",
    "is_work_tree",
    "merge_check",
    "merge_commit_create",
    "remote_branches",
    "repository_lock",
    "rev_parse",
    "toplevel",
    "tree_of",
    "worktree_add",
    "worktree_commit_all",
    "worktree_list",
    "worktree_prune",
    "worktree_remove",
]
