"""A task's branch as a pull request on GitHub: the merge path of a project whose
repository is on GitHub, when Crewboard has a token for it.

The one place that reads the GITHUB_* settings; core.github and core.git take them as
arguments. The merge service calls these with plain values and records what comes back.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from core import git
from core.github import GitHubError, GitHubRepository, PullRequest, github_repository
from core.github import pull_request_open as github_pull_request_open

__all__ = [
    "GitHubError",
    "PullRequest",
    "github_remote",
    "github_remote_enabled",
    "pull_request_for_branch",
]


def github_remote(repository_url: str) -> GitHubRepository | None:
    """The GitHub repository a project's `repository_url` names (on GITHUB_WEB_HOSTS), or None."""
    return github_repository(repository_url, hosts=settings.GITHUB_WEB_HOSTS)


def github_remote_enabled(repository_url: str) -> bool:
    """Whether work on this repository goes to GitHub as a pull request: a token is
    configured and the URL names a repository on a GitHub host."""
    return bool(settings.GITHUB_TOKEN) and github_remote(repository_url) is not None


def pull_request_for_branch(
    *,
    project_repository_url: str,
    repo_path: Path,
    branch: str,
    base: str,
    title: str,
    body: str,
) -> PullRequest:
    """Push `branch` from the repository at `repo_path` to the project's GitHub repository
    and open a pull request of it into `base`, or return the open one already there.

    Safe to call again after any failure, or after new commits on the branch: the push
    brings the branch up to date and no second pull request is opened.
    Raises GitHubError: no token, not a GitHub repository, the push failed (its message
    says why; `retryable` when git could not reach the host), or GitHub refused.
    """
    token = settings.GITHUB_TOKEN
    if not token:
        raise GitHubError("no GitHub token is configured (GITHUB_TOKEN)")
    remote = github_remote(project_repository_url)
    if remote is None:
        hosts = ", ".join(settings.GITHUB_WEB_HOSTS) or "none"
        raise GitHubError(
            f"{project_repository_url} is not a repository on a GitHub host ({hosts})"
        )
    try:
        # Over https with the token whatever the URL's form: an ssh URL would need a key
        # this worker may not have, and the token is what GitHub is told to trust.
        git.branch_push(repo_path, url=remote.https_url, branch=branch, token=token)
    except git.GitError as exc:
        raise GitHubError(
            f"could not push {branch} to {remote.full_name}: {exc.message}",
            retryable=_unreachable(exc),
        ) from None
    return github_pull_request_open(
        api_url=settings.GITHUB_API_URL,
        token=token,
        owner=remote.owner,
        repo=remote.name,
        head=branch,
        base=base,
        title=title,
        body=body,
    )


def _unreachable(exc: git.GitError) -> bool:
    # git could not talk to the host at all; a refusal or a diverged branch stays put.
    text = f"{exc.message}\n{exc.stderr}"
    return "timed out" in text or any(
        marker in text
        for marker in ("Could not resolve host", "Failed to connect", "Connection reset",
                       "Operation timed out", "The requested URL returned error: 5")
    )  # fmt: skip
