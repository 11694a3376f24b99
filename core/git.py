"""Plain git, run as a subprocess. Imports nothing of the project and no Django.

Every call strips the variables that point git at another repository (a GIT_DIR left by
a hook or a shell), never prompts for credentials, and takes no optional locks, so a
read never rewrites the user's index behind their back. Commands that change a
repository's shared state retry while another git holds one of its `.lock` files: two
runs adding worktrees to one repository at once must both succeed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

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
# A user's hooks (post-checkout, say) may write into their checkout; ours must not run them.
_NO_HOOKS = ("-c", "core.hooksPath=/dev/null")


class GitError(Exception):
    """A git command failed, timed out, or git is not installed; the message says which."""

    def __init__(self, message: str, *, stderr: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stderr = stderr
        self.returncode = returncode


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


@dataclass(frozen=True)
class Worktree:
    path: Path
    head: str
    branch: str  # "" when detached
    prunable: bool


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
            return done.stdout.rstrip("\n")
        locked = retry_locked and _LOCKED.search(done.stderr) is not None
        if not locked or time.monotonic() + delay > deadline:
            raise GitError(
                f"git {_command_name(args)} failed in {cwd}: {_last_lines(done.stderr)}",
                stderr=done.stderr,
                returncode=done.returncode,
            )
        # Jitter keeps two waiting writers from retrying in lockstep.
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 0.5)


def _run(
    args: Sequence[str], *, cwd: Path | str, timeout_s: float, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    try:
        # Its own process group: a timeout also ends what git started (a remote helper).
        proc = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        if shutil.which("git", path=env.get("PATH")) is None:
            raise GitError("git is not installed (no `git` on PATH)") from exc
        raise GitError(f"{cwd} does not exist") from exc
    except OSError as exc:
        raise GitError(f"git {_command_name(args)} could not start in {cwd}: {exc}") from exc
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise GitError(
            f"git {_command_name(args)} timed out after {timeout_s:g} s in {cwd}"
        ) from exc
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


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


@contextlib.contextmanager
def repository_lock(repo: Path | str) -> Iterator[None]:
    """Hold the repository's worktree lock: one process (or thread) at a time changes or
    reads its list of worktrees.

    Two `git worktree add` at once are not safe: each reads every worktree's record
    while the other is half-way through writing its own ("failed to read
    .git/worktrees/x/commondir"). The lock is an flock on the repository's .git folder
    itself, so no file is written for it. Raises GitError.
    """
    fd = os.open(common_dir(repo), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
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


def branch_delete(repo: Path | str, branch: str) -> None:
    """Delete local branch `branch`, merged or not. Raises GitError."""
    git("branch", "-D", "--", branch, cwd=repo, retry_locked=True)


CLONE_SCHEMES = ("https://", "file://")
# Belt and braces behind clone_source_error: git itself refuses every other transport.
_CLONE_PROTOCOLS = (
    *("-c", "protocol.allow=never"),
    *("-c", "protocol.file.allow=always"),
    *("-c", "protocol.https.allow=always"),
)


def clone_source_error(url: str) -> str | None:
    """Why `url` cannot be cloned, or None. Local paths, file:// and https:// are allowed;
    other transports (ssh, ext::) could prompt for keys or run commands."""
    if not url.strip():
        return "the repository URL is empty"
    if url.startswith(CLONE_SCHEMES):
        parts = urlsplit(url)
        if url.startswith("https://") and not parts.hostname:
            return f"{url} has no host"
        return None
    # host:path is git's short form for ssh; a path with a slash before any colon is local.
    if "://" in url or "::" in url or (":" in url and not url.startswith("/")):
        return f"{url}: only local paths, file:// and https:// URLs can be cloned"
    if not Path(url).is_absolute():
        return f"{url}: a local repository must be given as an absolute path"
    return None


def remote_branches(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[str]:
    """The branch names of the repository at `url` (a source `clone` accepts).

    Raises GitError when the URL is refused or the repository cannot be read.
    """
    problem = clone_source_error(url)
    if problem:
        raise GitError(problem)
    try:
        out = git(*_CLONE_PROTOCOLS, "ls-remote", "--heads", "--", url, cwd="/",
                  timeout_s=timeout_s)  # fmt: skip
    except GitError as exc:
        reason = _last_lines(exc.stderr).replace("fatal: ", "") if exc.stderr else exc.message
        raise GitError(reason) from exc
    return [line.split("refs/heads/", 1)[1] for line in out.splitlines() if "refs/heads/" in line]


def clone(
    url: str, dest: Path | str, *, branch: str = "", timeout_s: float = CLONE_TIMEOUT_S
) -> None:
    """Clone `url` into `dest`, which must not exist yet, with `branch` (else the
    remote's default branch) checked out and so a local branch.

    The clone is made beside `dest` and moved into place only once complete, so a
    failure or timeout leaves nothing at `dest` (and no partial clone beside it).
    Raises GitError with the reason.
    """
    problem = clone_source_error(url)
    if problem:
        raise GitError(problem)
    dest = Path(dest)
    if dest.exists():
        raise GitError(f"{dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.cloning-", dir=dest.parent))
    try:
        git(
            *_CLONE_PROTOCOLS,
            *_NO_HOOKS,
            "clone",
            "--quiet",
            *(("--branch", branch) if branch else ()),
            "--",
            url,
            str(staging / "repo"),
            cwd=dest.parent,
            timeout_s=timeout_s,
        )
        (staging / "repo").rename(dest)
    except GitError as exc:
        raise GitError(f"could not clone {url}: {exc.message}", stderr=exc.stderr) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
