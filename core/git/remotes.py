"""Pushing a branch to a remote repository, with a token that stays out of the
repository's config and out of every process's argv: git reads it from its environment
(GIT_CONFIG_COUNT/KEY/VALUE), which only the same user can see."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from core.git import _NO_HOOKS, GitError, branch_exists, git, rev_parse
from core.git.clones import _CLONE_PROTOCOLS, clone_source_error

PUSH_TIMEOUT_S = 300.0
# What git says when the remote wants credentials it was not given (or refused ours):
# prompts are off, so it cannot ask for a user name.
_AUTH_REFUSED = ("could not read Username", "Authentication failed", "terminal prompts disabled")


def branch_push(
    repo: Path | str,
    *,
    url: str,
    branch: str,
    token: str | None = None,
    timeout_s: float = PUSH_TIMEOUT_S,
) -> str:
    """Push local branch `branch` of `repo` to the same branch at `url`; return the
    commit pushed.

    A push again replaces what was pushed before, even when the branch was rebuilt, but
    never commits someone else pushed there: the remote branch must point at a commit this
    repository has, and the push leases exactly that commit (--force-with-lease), so one
    arriving in between is not overwritten either. With `token`, git sends it in an
    Authorization header (as GitHub's `x-access-token`), over https only, and no other
    credential is tried. Raises GitError; its message never holds the token.
    """
    problem = clone_source_error(url)
    if problem:
        raise GitError(problem.replace("cloned", "pushed to"))
    if token and not url.startswith("https://"):
        raise GitError(f"{url}: a token is only ever sent over https")
    if not branch_exists(repo, branch):
        raise GitError(f"there is no branch {branch!r} in {repo}")
    ref = f"refs/heads/{branch}"
    local = rev_parse(repo, ref)
    deadline = time.monotonic() + timeout_s
    env = _credentials(token)
    try:
        remote = _remote_commit(repo, url, ref, env=env, timeout_s=timeout_s)
        if remote == local:
            return local
        if remote and not _has_commit(repo, remote):
            raise GitError(
                f"{branch} at {url} holds commits that {repo} does not have (pushed by "
                "someone else?); they are not overwritten"
            )
        git(
            *_CLONE_PROTOCOLS,
            *_NO_HOOKS,
            "push",
            "--quiet",
            f"--force-with-lease={ref}:{remote}",
            "--",
            url,
            f"{ref}:{ref}",
            cwd=repo,
            env=env,
            timeout_s=max(deadline - time.monotonic(), 1.0),
        )
    except GitError as exc:
        raise _without_token(exc, url=url, branch=branch, token=token) from None
    return local


def _credentials(token: str | None) -> dict[str, str]:
    if not token:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        # An empty helper clears the user's: a refused token is reported as refused, not
        # quietly replaced by whatever a keychain holds for the host.
        "GIT_CONFIG_KEY_1": "credential.helper",
        "GIT_CONFIG_VALUE_1": "",
    }


def _remote_commit(
    repo: Path | str, url: str, ref: str, *, env: dict[str, str], timeout_s: float
) -> str:
    """The commit `ref` points at on the remote; empty when it has no such branch."""
    out = git(*_CLONE_PROTOCOLS, "ls-remote", "--", url, ref, cwd=repo, env=env,
              timeout_s=timeout_s)  # fmt: skip
    for line in out.splitlines():
        commit, _, name = line.partition("\t")
        if name == ref:
            return commit
    return ""


def _has_commit(repo: Path | str, commit: str) -> bool:
    try:
        rev_parse(repo, commit)
    except GitError:
        return False
    return True


def _without_token(exc: GitError, *, url: str, branch: str, token: str | None) -> GitError:
    stderr = exc.stderr
    if stderr and any(marker in stderr for marker in _AUTH_REFUSED):
        message = f"{url} refused the push of {branch}: " + (
            "the token was not accepted" if token else "it wants credentials"
        )
    elif "stale info" in stderr or "fetch first" in stderr:
        message = f"{branch} changed at {url} while it was being pushed; nothing was overwritten"
    else:
        message = exc.message
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        message = message.replace(token, "***").replace(basic, "***")
        stderr = stderr.replace(token, "***").replace(basic, "***")
    return GitError(message, stderr=stderr, returncode=exc.returncode)
