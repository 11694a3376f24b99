"""core.github against a loopback server that answers as GitHub's REST API does."""

import socket

import pytest

from core.github import (
    GitHubError,
    GitHubRepository,
    PullRequest,
    github_repository,
    pull_request_find,
    pull_request_open,
)
from tests.fakes.github_api import FakeGitHubApi

TOKEN = "ghp_fake0123456789secret"


@pytest.fixture
def api():
    with FakeGitHubApi(token=TOKEN) as server:
        server.add_repository("octo", "app")
        yield server


def _open(api: FakeGitHubApi, **overrides: str) -> PullRequest:
    arguments = {
        "api_url": api.base_url,
        "token": TOKEN,
        "owner": "octo",
        "repo": "app",
        "head": "crewboard/01-01-T1-1",
        "base": "main",
        "title": "01-01-T1: Add the parser",
        "body": "Done by Crewboard's coder.",
        **overrides,
    }
    return pull_request_open(**arguments)


# Which URLs are GitHub repositories ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/octo/app",
        "https://github.com/octo/app.git",
        "https://github.com/octo/app/",
        "https://GitHub.com/octo/app.git",
        "https://someone@github.com/octo/app.git",
        "git@github.com:octo/app.git",
        "git@github.com:octo/app",
        "ssh://git@github.com/octo/app.git",
        "ssh://git@github.com:22/octo/app.git",
    ],
)
def test_github_urls_name_their_repository(url):
    assert github_repository(url) == GitHubRepository(host="github.com", owner="octo", name="app")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/srv/git/app",
        "file:///srv/git/app.git",
        "https://gitlab.com/octo/app.git",
        "https://github.com.evil.example/octo/app.git",
        "http://github.com/octo/app.git",
        "https://github.com/octo",
        "https://github.com/octo/app/tree/main",
        "https://github.com/octo/app.git?ref=main",
        "https://github.com/octo/..",
        "https://github.com/-octo/app",
        "git@gitlab.com:octo/app.git",
        "ssh://git@bitbucket.org/octo/app.git",
        "https://github.com:notaport/octo/app",
    ],
)
def test_other_urls_are_not_github_repositories(url):
    assert github_repository(url) is None


def test_a_configured_host_with_a_port_stands_for_github():
    hosts = ["127.0.0.1:8443"]
    found = github_repository("https://127.0.0.1:8443/octo/app.git", hosts=hosts)
    assert found == GitHubRepository(host="127.0.0.1:8443", owner="octo", name="app")
    assert found.https_url == "https://127.0.0.1:8443/octo/app.git"
    assert github_repository("https://127.0.0.1:9999/octo/app.git", hosts=hosts) is None
    # github.com itself is not a GitHub host unless configured.
    assert github_repository("https://github.com/octo/app.git", hosts=hosts) is None


def test_an_ssh_url_is_pushed_to_over_https():
    found = github_repository("git@ghe.example.com:team/service.git", hosts=["ghe.example.com"])
    assert found is not None
    assert found.https_url == "https://ghe.example.com/team/service.git"


# Opening a pull request ---------------------------------------------------------------


def test_open_a_pull_request(api):
    pull = _open(api)

    assert pull == PullRequest(number=1, url="https://github.com/octo/app/pull/1")
    [request] = api.requests
    assert (request.method, request.path) == ("POST", "/repos/octo/app/pulls")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.json == {
        "title": "01-01-T1: Add the parser",
        "head": "crewboard/01-01-T1-1",
        "base": "main",
        "body": "Done by Crewboard's coder.",
    }


def test_opening_again_returns_the_open_pull_request_instead_of_a_second(api):
    first = _open(api)
    again = _open(api, title="a retried step")

    assert again == first
    assert len(api.pulls) == 1
    assert [(r.method, r.path.split("?")[0]) for r in api.requests] == [
        ("POST", "/repos/octo/app/pulls"),
        ("POST", "/repos/octo/app/pulls"),
        ("GET", "/repos/octo/app/pulls"),
    ]
    assert "head=octo%3Acrewboard%2F01-01-T1-1" in api.requests[-1].path


def test_another_branch_gets_its_own_pull_request(api):
    first = _open(api)
    second = _open(api, head="crewboard/01-01-T2-1")
    assert (first.number, second.number) == (1, 2)


def test_find_the_open_pull_request_of_a_branch(api):
    common = {"api_url": api.base_url, "token": TOKEN, "owner": "octo", "repo": "app"}
    assert pull_request_find(**common, head="crewboard/01-01-T1-1", base="main") is None
    opened = _open(api)
    assert pull_request_find(**common, head="crewboard/01-01-T1-1", base="main") == opened
    assert pull_request_find(**common, head="crewboard/01-01-T1-1", base="dev") is None


def test_an_api_url_with_a_path_keeps_it(api):
    # GitHub Enterprise serves the API under /api/v3; the fake answers only at its root,
    # so a lost prefix and a kept one give different answers.
    with pytest.raises(GitHubError) as caught:
        _open(api, api_url=f"{api.base_url}/api/v3")
    assert caught.value.status == 404
    assert api.requests[-1].path == "/api/v3/repos/octo/app/pulls"


# Refusals ------------------------------------------------------------------------------


def test_a_wrong_token_is_refused_with_githubs_reason_and_without_the_token(api):
    wrong = "ghp_wrong_token_value_42"
    with pytest.raises(GitHubError) as caught:
        _open(api, token=wrong)

    error = caught.value
    assert error.status == 401
    assert not error.retryable
    assert error.message == "GitHub refused the token: Bad credentials (HTTP 401)"
    assert wrong not in str(error)
    assert api.pulls == []


def test_a_token_without_rights_is_told_so(api):
    api.refuse(403, "Resource not accessible by personal access token")
    with pytest.raises(GitHubError) as caught:
        _open(api)
    assert caught.value.status == 403
    assert caught.value.message == (
        "the token may not open a pull request in octo/app: "
        "Resource not accessible by personal access token (HTTP 403)"
    )


def test_an_unknown_repository_is_named(api):
    with pytest.raises(GitHubError) as caught:
        _open(api, repo="missing")
    assert caught.value.status == 404
    assert "octo/missing" in caught.value.message
    assert "no such repository" in caught.value.message


def test_a_validation_failure_names_the_field(tmp_path):
    # With a git root, a branch that was never pushed is refused as GitHub refuses it.
    (tmp_path / "octo" / "app.git").mkdir(parents=True)
    with FakeGitHubApi(token=TOKEN, git_root=tmp_path) as api:
        api.add_repository("octo", "app")
        with pytest.raises(GitHubError) as caught:
            _open(api)
    assert caught.value.status == 422
    assert caught.value.message == (
        "GitHub refused to open a pull request in octo/app: "
        "Validation Failed: base invalid (HTTP 422)"
    )


def test_a_server_error_may_be_retried(api):
    api.refuse(502, "Server Error")
    with pytest.raises(GitHubError) as caught:
        _open(api)
    assert caught.value.status == 502
    assert caught.value.retryable


def test_an_unreachable_api_is_named_and_may_be_retried():
    # A port that was just free, with nothing listening: the connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(GitHubError) as caught:
        pull_request_open(api_url=url, token=TOKEN, owner="octo", repo="app",
                          head="b", base="main", title="t", body="")  # fmt: skip
    error = caught.value
    assert error.message.startswith(f"could not reach GitHub at {url}")
    assert error.status is None
    assert error.retryable
    assert TOKEN not in str(error)


def test_no_token_is_refused_before_asking(api):
    with pytest.raises(GitHubError, match="no GitHub token"):
        _open(api, token="")
    assert api.requests == []
