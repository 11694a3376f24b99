"""A task's branch pushed to GitHub and opened as a pull request, end to end: a real
`git push` over https to a loopback git server standing in for github.com, and a loopback
server answering as GitHub's REST API."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.models import Merge
from agents.services import merges, reviews
from agents.services.pull_requests import (
    GitHubError,
    PullRequest,
    github_remote_enabled,
    pull_request_for_branch,
)
from tests.agents.reviewing import attempt_in_review
from tests.fakes.git_https import SmartGitHttpsServer, publish
from tests.fakes.github_api import FakeGitHubApi
from tests.gitrepos import make_repo, run_git

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("openssl") is None,
    reason="git or openssl not installed",
)

TOKEN = "ghp_service0123456789secret"
BRANCH = "crewboard/01-01-T1-1"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", {"README.md": "hello\n"})
    run_git(repo, "checkout", "-q", "-b", BRANCH)
    _commit(repo, "parser.py", "def parse(): ...\n")
    run_git(repo, "checkout", "-q", "main")
    return repo


@dataclass(frozen=True)
class GitHub:
    api: FakeGitHubApi
    repository_url: str  # the project's
    served: Path  # the bare repository behind it
    web_url: str


@pytest.fixture
def github(tmp_path, repo, settings, monkeypatch):
    """github.com on loopback: the git server, its API, and settings that point at both."""
    root = tmp_path / "served"
    (root / "octo").mkdir(parents=True)
    publish(repo, root, "octo/app.git")
    run_git(root / "octo" / "app.git", "branch", "-D", BRANCH)
    with (
        SmartGitHttpsServer(root, tmp_path, token=TOKEN) as git_server,
        FakeGitHubApi(token=TOKEN, web_url=git_server.url, git_root=root) as api,
    ):
        api.add_repository("octo", "app")
        monkeypatch.setenv("GIT_SSL_CAINFO", str(git_server.ca_file))
        settings.GITHUB_TOKEN = TOKEN
        settings.GITHUB_API_URL = api.base_url
        settings.GITHUB_WEB_HOSTS = [git_server.host]
        yield GitHub(
            api=api,
            repository_url=f"{git_server.url}/octo/app.git",
            served=root / "octo" / "app.git",
            web_url=git_server.url,
        )


def _commit(repo: Path, name: str, text: str) -> str:
    (repo / name).write_text(text)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", f"write {name}")
    return run_git(repo, "rev-parse", "HEAD")


def _open(github: GitHub, repo: Path, **overrides: str) -> PullRequest:
    arguments = {
        "project_repository_url": github.repository_url,
        "repo_path": repo,
        "branch": BRANCH,
        "base": "main",
        "title": "01-01-T1: Add the parser",
        "body": "Checks passed; accepted by alice.",
        **overrides,
    }
    return pull_request_for_branch(**arguments)


def test_the_branch_is_pushed_and_a_pull_request_opened(github, repo):
    pull = _open(github, repo)

    assert run_git(github.served, "rev-parse", f"refs/heads/{BRANCH}") == run_git(
        repo, "rev-parse", BRANCH
    )
    assert pull == PullRequest(number=1, url=f"{github.web_url}/octo/app/pull/1")
    [opened] = github.api.pulls
    assert (opened["head"]["ref"], opened["base"]["ref"]) == (BRANCH, "main")
    assert opened["title"] == "01-01-T1: Add the parser"


def test_a_retried_call_pushes_new_commits_and_opens_no_second_pull_request(github, repo):
    first = _open(github, repo)
    run_git(repo, "checkout", "-q", BRANCH)
    fixed = _commit(repo, "parser.py", "def parse(): return 1\n")

    again = _open(github, repo)

    assert again == first
    assert len(github.api.pulls) == 1
    assert run_git(github.served, "rev-parse", f"refs/heads/{BRANCH}") == fixed


def test_a_refused_token_stops_at_the_push_and_is_not_repeated(github, repo, settings):
    settings.GITHUB_TOKEN = "ghp_wrong_token_value_42"
    with pytest.raises(GitHubError) as caught:
        _open(github, repo)

    assert "could not push crewboard/01-01-T1-1 to octo/app" in caught.value.message
    assert "the token was not accepted" in caught.value.message
    assert "ghp_wrong_token_value_42" not in caught.value.message
    assert not caught.value.retryable
    assert github.api.requests == []


def test_a_pull_request_github_refuses_says_why(github, repo):
    with pytest.raises(GitHubError) as caught:
        _open(github, repo, base="release")
    assert caught.value.status == 422
    assert "base invalid" in caught.value.message


def test_without_a_token_nothing_is_pushed(github, repo, settings):
    settings.GITHUB_TOKEN = ""
    with pytest.raises(GitHubError, match="no GitHub token"):
        _open(github, repo)
    assert run_git(github.served, "branch", "--list", BRANCH) == ""


def test_a_repository_elsewhere_is_refused(github, repo):
    with pytest.raises(GitHubError, match="not a repository on a GitHub host"):
        _open(github, repo, project_repository_url="https://gitlab.com/octo/app.git")


def test_the_github_path_needs_a_token_and_a_github_repository(settings):
    settings.GITHUB_TOKEN = ""
    assert not github_remote_enabled("https://github.com/octo/app.git")

    settings.GITHUB_TOKEN = TOKEN
    assert github_remote_enabled("https://github.com/octo/app.git")
    assert github_remote_enabled("git@github.com:octo/app.git")
    assert not github_remote_enabled("https://gitlab.com/octo/app.git")
    assert not github_remote_enabled("/srv/git/app")
    assert not github_remote_enabled("")

    settings.GITHUB_WEB_HOSTS = ["ghe.example.com"]
    assert github_remote_enabled("https://ghe.example.com/team/app.git")
    assert not github_remote_enabled("https://github.com/octo/app.git")


@pytest.mark.django_db
def test_approved_work_of_a_github_project_becomes_a_pull_request_not_a_local_merge(
    github, repo, tmp_path, project, user, settings, django_capture_on_commit_callbacks
):
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    project.root_path = str(repo)
    project.repository_url = github.repository_url
    project.save()
    task, run = attempt_in_review(
        project, repo, key="T1", files={"calc.py": "x = 1\n"}, worktrees=tmp_path / "worktrees"
    )
    main_before = run_git(repo, "rev-parse", "main")
    with django_capture_on_commit_callbacks():
        reviews.review_submit(task=task, verdict="approve", reviewer=user)
    merge = merges.merge_execute(merge_id=Merge.objects.get().pk)

    assert merge is not None and merge.status == "pull_request", merge.message
    [opened] = github.api.pulls
    assert merge.pull_request_url == opened["html_url"]
    assert opened["head"]["ref"] == run.branch_name and opened["base"]["ref"] == "main"
    assert opened["title"] == "T1: Work on T1"
    # Nothing merged here: the task waits for the pull request to be merged on GitHub.
    assert run_git(repo, "rev-parse", "main") == main_before
    task.refresh_from_db()
    assert task.status == "review"
    assert run_git(github.served, "rev-parse", run.branch_name) == run_git(
        repo, "rev-parse", run.branch_name
    )
