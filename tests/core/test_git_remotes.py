"""core.git.branch_push: real pushes over https to a loopback git server."""

import base64
import shutil
from pathlib import Path

import pytest

from core import git
from tests.fakes.git_https import SmartGitHttpsServer, publish
from tests.gitrepos import make_repo, run_git

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("openssl") is None,
    reason="git or openssl not installed",
)

TOKEN = "ghp_push0123456789secret"
BRANCH = "crewboard/01-01-T1-1"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", {"README.md": "hello\n"})
    run_git(repo, "checkout", "-q", "-b", BRANCH)
    _commit(repo, "parser.py", "def parse(): ...\n")
    return repo


@pytest.fixture
def served(tmp_path: Path, repo: Path) -> Path:
    root = tmp_path / "served"
    (root / "octo").mkdir(parents=True)
    publish(repo, root, "octo/app.git")
    # The published copy has the task's branch too; the remote starts with main only.
    run_git(root / "octo" / "app.git", "branch", "-D", BRANCH)
    return root


@pytest.fixture
def server(served: Path, tmp_path: Path, monkeypatch):
    with SmartGitHttpsServer(served, tmp_path, token=TOKEN) as server:
        monkeypatch.setenv("GIT_SSL_CAINFO", str(server.ca_file))
        yield server


def _commit(repo: Path, name: str, text: str) -> str:
    (repo / name).write_text(text)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", f"write {name}")
    return run_git(repo, "rev-parse", "HEAD")


def _remote_branch(served: Path) -> str:
    return run_git(served / "octo" / "app.git", "rev-parse", f"refs/heads/{BRANCH}")


def test_the_branch_arrives_in_the_remote(repo, served, server):
    pushed = git.branch_push(repo, url=f"{server.url}/octo/app.git", branch=BRANCH, token=TOKEN)

    assert pushed == run_git(repo, "rev-parse", "HEAD")
    assert _remote_branch(served) == pushed
    # The token went as GitHub takes it, in a header, and nowhere into the repository.
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert {r.authorization for r in server.requests} == {f"Basic {basic}"}
    assert TOKEN not in (repo / ".git" / "config").read_text()
    assert basic not in (repo / ".git" / "config").read_text()


def test_a_new_commit_is_pushed_again(repo, served, server):
    url = f"{server.url}/octo/app.git"
    git.branch_push(repo, url=url, branch=BRANCH, token=TOKEN)
    second = _commit(repo, "parser.py", "def parse(): return 1\n")

    assert git.branch_push(repo, url=url, branch=BRANCH, token=TOKEN) == second
    assert _remote_branch(served) == second


def test_a_rebuilt_branch_replaces_what_was_pushed_before(repo, served, server):
    url = f"{server.url}/octo/app.git"
    git.branch_push(repo, url=url, branch=BRANCH, token=TOKEN)
    run_git(repo, "commit", "-q", "--amend", "-m", "parse, reworded")
    rebuilt = run_git(repo, "rev-parse", "HEAD")

    git.branch_push(repo, url=url, branch=BRANCH, token=TOKEN)
    assert _remote_branch(served) == rebuilt


def test_pushing_what_is_there_already_changes_nothing(repo, served, server):
    url = f"{server.url}/octo/app.git"
    first = git.branch_push(repo, url=url, branch=BRANCH, token=TOKEN)
    pushes_before = sum("git-receive-pack" in r.path for r in server.requests)

    assert git.branch_push(repo, url=url, branch=BRANCH, token=TOKEN) == first
    assert sum("git-receive-pack" in r.path for r in server.requests) == pushes_before


def test_commits_someone_else_pushed_are_not_overwritten(repo, served, server, tmp_path):
    url = f"{server.url}/octo/app.git"
    git.branch_push(repo, url=url, branch=BRANCH, token=TOKEN)
    # A person adds a commit to the branch on the remote, from their own clone.
    theirs = tmp_path / "theirs"
    run_git(tmp_path, "clone", "-q", "--branch", BRANCH, str(served / "octo" / "app.git"),
            str(theirs))  # fmt: skip
    their_commit = _commit(theirs, "notes.md", "a reviewer's note\n")
    run_git(theirs, "push", "-q", "origin", BRANCH)
    _commit(repo, "parser.py", "def parse(): return 2\n")

    with pytest.raises(git.GitError, match=r"holds commits that .* does not have"):
        git.branch_push(repo, url=url, branch=BRANCH, token=TOKEN)
    assert _remote_branch(served) == their_commit


def test_a_refused_token_is_reported_without_the_token(repo, served, server):
    wrong = "ghp_wrong_token_value_42"
    with pytest.raises(git.GitError) as caught:
        git.branch_push(repo, url=f"{server.url}/octo/app.git", branch=BRANCH, token=wrong)

    error = caught.value
    assert "refused the push of crewboard/01-01-T1-1: the token was not accepted" in str(error)
    basic = base64.b64encode(f"x-access-token:{wrong}".encode()).decode()
    assert wrong not in f"{error.message} {error.stderr}"
    assert basic not in f"{error.message} {error.stderr}"
    assert run_git(served / "octo" / "app.git", "branch", "--list", BRANCH) == ""


def test_a_token_goes_over_https_only(repo, served):
    with pytest.raises(git.GitError, match="only ever sent over https"):
        git.branch_push(repo, url=f"file://{served}/octo/app.git", branch=BRANCH, token=TOKEN)


def test_a_push_without_a_token_works_where_none_is_needed(repo, served):
    git.branch_push(repo, url=f"file://{served}/octo/app.git", branch=BRANCH)
    assert _remote_branch(served) == run_git(repo, "rev-parse", "HEAD")


def test_a_missing_branch_is_named(repo, served):
    with pytest.raises(git.GitError, match="no branch 'crewboard/nope'"):
        git.branch_push(repo, url=f"file://{served}/octo/app.git", branch="crewboard/nope")


def test_other_transports_are_refused(repo):
    with pytest.raises(git.GitError, match="can be pushed to"):
        git.branch_push(repo, url="ext::sh -c touch% /tmp/pwned", branch=BRANCH)
