"""A project's repository fields: checked on save, and a repository URL cloned."""

import shutil
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from core.errors import DomainError
from planning import services
from planning.models import Project
from tests.agent_tools import temporary_tool
from tests.factories import ProjectFactory
from tests.fakes.git_https import GitHttpsServer, publish
from tests.gitrepos import checkout_fingerprint, entries, make_repo, run_git

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("git") is None, reason="git not installed"),
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "checkout", {"README.md": "hi\n"})
    run_git(repo, "branch", "dev")
    return repo


def create(user, **fields) -> Project:
    return services.project_create(owner=user, name="Shop", **fields)


def error_of(user, **fields) -> DomainError:
    with pytest.raises(DomainError) as caught:
        create(user, **fields)
    assert not Project.objects.filter(name="Shop").exists()
    return caught.value


# A checkout of the user's ---------------------------------------------------------------


def test_a_project_on_a_checkout_keeps_its_path(user, repo):
    before = checkout_fingerprint(repo)
    project = create(user, root_path=str(repo), base_branch="dev")
    assert (project.root_path, project.base_branch) == (str(repo), "dev")
    assert checkout_fingerprint(repo) == before


def test_a_project_without_a_repository_is_allowed(user):
    project = create(user)
    assert (project.root_path, project.repository_url) == ("", "")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("plain folder", "root_path {path} is not a git work tree"),
        ("missing", "root_path {path} does not exist"),
        ("relative", "root_path {path} must be an absolute path"),
        ("bare", "root_path {path} is not a git work tree"),
    ],
)
def test_a_root_path_that_is_not_a_checkout_is_refused(user, tmp_path, kind, message):
    path = {
        "plain folder": tmp_path,
        "missing": tmp_path / "nowhere",
        "relative": Path("some/checkout"),
        "bare": tmp_path / "bare.git",
    }[kind]
    if kind == "bare":
        run_git(tmp_path, "init", "-q", "--bare", "bare.git")
    error = error_of(user, root_path=str(path))
    assert (error.field, error.message) == ("root_path", message.format(path=path))


def test_a_missing_base_branch_is_named_with_the_branches_there_are(user, repo):
    error = error_of(user, root_path=str(repo), base_branch="release")
    assert error.field == "base_branch"
    assert (
        error.message == f"base branch 'release' does not exist in {repo} (its branches: dev, main)"
    )


def test_an_update_checks_changed_repository_fields_only(project, repo, tmp_path):
    project = services.project_update(project=project, data={"root_path": str(repo)})
    with pytest.raises(DomainError, match="base branch 'gone' does not exist"):
        services.project_update(project=project, data={"base_branch": "gone"})
    project.refresh_from_db()
    assert project.base_branch == "main"
    # The checkout moved away: other settings can still be changed.
    shutil.rmtree(repo)
    services.project_update(project=project, data={"verify_command": "make test"})
    project.refresh_from_db()
    assert project.verify_command == "make test"


# Cloning a repository URL ----------------------------------------------------------------


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_repository_url_is_cloned_and_becomes_the_root_path(user, repo, settings, form):
    before = checkout_fingerprint(repo)
    url = str(repo) if form == "path" else f"file://{repo}"
    project = create(user, repository_url=url)
    clone = Path(settings.REPOS_DIR) / project.slug
    assert project.root_path == str(clone)
    assert (clone / "README.md").read_text() == "hi\n"
    assert checkout_fingerprint(repo) == before


def test_a_repository_url_over_https_is_cloned(user, repo, tmp_path, monkeypatch):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    served = tmp_path / "served"
    served.mkdir()
    publish(repo, served, "shop.git")
    with GitHttpsServer(served, tmp_path) as server:
        monkeypatch.setenv("GIT_SSL_CAINFO", str(server.ca_file))
        project = create(user, repository_url=f"{server.url}/shop.git", base_branch="dev")
    assert (Path(project.root_path) / "README.md").read_text() == "hi\n"


@pytest.mark.parametrize(
    ("url", "field", "message"),
    [
        ("ssh://git@example.com/shop.git", "repository_url", "only local paths, file:// and"),
        ("{tmp}/nowhere", "repository_url", "cannot be read"),
        ("{repo}", "base_branch", "base branch 'trunk' does not exist in {repo} (its branches"),
    ],
)
def test_a_repository_url_that_cannot_be_cloned_writes_nothing(
    user, repo, tmp_path, settings, url, field, message
):
    url = url.format(tmp=tmp_path, repo=repo)
    error = error_of(user, repository_url=url, base_branch="trunk")
    assert error.field == field
    assert message.format(repo=repo) in error.message
    assert entries(settings.REPOS_DIR) == []


def test_a_clone_is_removed_when_the_project_cannot_be_saved(user, repo, settings):
    ProjectFactory(slug="shop")
    with pytest.raises(ValidationError):
        create(user, slug="shop", repository_url=str(repo))
    assert entries(settings.REPOS_DIR) == []


def test_an_earlier_clone_of_the_same_url_is_taken_up_again(user, repo, settings):
    project = create(user, repository_url=str(repo))
    services.project_update(project=project, data={"root_path": ""})
    project.refresh_from_db()
    assert project.root_path == str(Path(settings.REPOS_DIR) / "shop")


def test_a_folder_in_the_way_of_the_clone_is_not_touched(user, repo, settings):
    squatter = Path(settings.REPOS_DIR) / "shop"
    squatter.mkdir(parents=True)
    (squatter / "keep.txt").write_text("mine")
    error = error_of(user, repository_url=str(repo))
    assert error.field == "repository_url"
    assert "already exists and is not a clone of" in error.message
    assert (squatter / "keep.txt").read_text() == "mine"


def test_setting_a_repository_url_later_clones_it(project, repo):
    project = services.project_update(project=project, data={"repository_url": str(repo)})
    assert (Path(project.root_path) / "README.md").exists()


# Other settings ---------------------------------------------------------------------------


def test_enabled_tools_must_be_tools_that_can_be_enabled(project):
    with temporary_tool("shell_test", risk="high"):
        services.project_update(project=project, data={"enabled_tools": ["shell_test"]})
        with pytest.raises(DomainError, match="Unknown tool 'nope'; tools that can be enabled:"):
            services.project_update(project=project, data={"enabled_tools": ["nope"]})
    project.refresh_from_db()
    assert project.enabled_tools == ["shell_test"]


def test_max_qa_iterations_must_be_at_least_one(project):
    with pytest.raises(DomainError, match="at least 1"):
        services.project_update(project=project, data={"max_qa_iterations": 0})
