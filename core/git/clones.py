"""Cloning a repository, and reading a remote's branches, from the sources Crewboard
accepts: local paths, file:// and https:// URLs."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from core.git import _NO_HOOKS, CLONE_TIMEOUT_S, DEFAULT_TIMEOUT_S, GitError, _last_lines, git

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
