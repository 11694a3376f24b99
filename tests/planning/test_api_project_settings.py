"""The coding-run settings of a project over the REST API: shown, changed, and checked
against the real repository (a bad one is a 400 naming the field, and nothing is written)."""

import shutil
from pathlib import Path

import pytest

from planning.models import Project
from planning.tool_options import tool_options
from tests.agent_tools import temporary_tool
from tests.gitrepos import entries, make_repo, run_git

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("git") is None, reason="git not installed"),
]

BASE = "/api/v1/projects/crewboard/"
SETTINGS = (
    "root_path",
    "repository_url",
    "base_branch",
    "setup_command",
    "verify_command",
    "max_qa_iterations",
    "allow_network",
    "default_executor",
    "enabled_tools",
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "checkout")
    run_git(repo, "branch", "dev")
    return repo


def test_a_project_shows_its_settings(api, project, django_assert_max_num_queries):
    # session-less token auth: membership with its project
    with django_assert_max_num_queries(2):
        data = api.get(BASE).json()
    assert {name: data[name] for name in SETTINGS} == {
        "root_path": "",
        "repository_url": "",
        "base_branch": "main",
        "setup_command": "",
        "verify_command": "",
        "max_qa_iterations": 3,
        "allow_network": False,
        "default_executor": "builtin",
        "enabled_tools": [],
    }


def test_changing_the_settings(api, project, repo):
    with temporary_tool("shell_test", risk="high"):
        response = api.patch(
            BASE,
            {
                "root_path": str(repo),
                "base_branch": "dev",
                "setup_command": "make install",
                "verify_command": "make test",
                "max_qa_iterations": 5,
                "allow_network": True,
                "default_executor": "claude-code",
                "enabled_tools": ["shell_test"],
            },
            format="json",
        )
    assert response.status_code == 200, response.json()
    project.refresh_from_db()
    assert (project.root_path, project.base_branch) == (str(repo), "dev")
    assert (project.setup_command, project.verify_command) == ("make install", "make test")
    assert (project.max_qa_iterations, project.allow_network) == (5, True)
    assert (project.default_executor, project.enabled_tools) == ("claude-code", ["shell_test"])


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"root_path": "{tmp}"}, "root_path", "root_path {tmp} is not a git work tree"),
        ({"root_path": "{tmp}/nowhere"}, "root_path", "root_path {tmp}/nowhere does not exist"),
        (
            {"root_path": "{repo}", "base_branch": "release"},
            "base_branch",
            "base branch 'release' does not exist in {repo} (its branches: dev, main)",
        ),
        (
            {"repository_url": "git@example.com:shop.git"},
            "repository_url",
            "repository_url git@example.com:shop.git: only local paths, file:// and https:// "
            "URLs can be cloned",
        ),
        (
            {"max_qa_iterations": 0},
            "max_qa_iterations",
            "Ensure this value is greater than or equal to 1.",
        ),
        ({"default_executor": "emacs"}, "default_executor", '"emacs" is not a valid choice.'),
        (
            {"enabled_tools": ["nope"]},
            "enabled_tools",
            "Unknown tool 'nope'; tools that can be enabled: {tools}.",
        ),
    ],
)
def test_a_bad_setting_is_400_naming_it_and_nothing_is_written(
    api, project, repo, tmp_path, settings, change, field, message
):
    change = {
        k: v.format(tmp=tmp_path, repo=repo) if isinstance(v, str) else v for k, v in change.items()
    }
    response = api.patch(BASE, {**change, "verify_command": "make test"}, format="json")
    assert response.status_code == 400
    tools = ", ".join(sorted(option.name for option in tool_options() or []))
    assert response.json() == {field: [message.format(tmp=tmp_path, repo=repo, tools=tools)]}
    saved = Project.objects.get(pk=project.pk)
    assert (saved.root_path, saved.verify_command, saved.base_branch) == ("", "", "main")
    assert entries(settings.REPOS_DIR) == []


def test_creating_a_project_from_a_repository_url_clones_it(api, repo, settings):
    response = api.post(
        "/api/v1/projects/",
        {"name": "Shop", "repository_url": f"file://{repo}", "base_branch": "dev"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    clone = Path(settings.REPOS_DIR) / "shop"
    assert response.json()["root_path"] == str(clone)
    assert run_git(clone, "rev-parse", "dev") == run_git(repo, "rev-parse", "dev")


def test_a_repository_url_that_cannot_be_read_creates_nothing(api, tmp_path, settings):
    response = api.post(
        "/api/v1/projects/",
        {"name": "Shop", "repository_url": str(tmp_path / "nowhere")},
        format="json",
    )
    assert response.status_code == 400
    [message] = response.json()["repository_url"]
    assert message.startswith(f"repository_url {tmp_path}/nowhere cannot be read:")
    assert not Project.objects.filter(name="Shop").exists()
    assert entries(settings.REPOS_DIR) == []


def test_concurrency_below_one_is_refused(api, project):
    response = api.patch(
        f"/api/v1/projects/{project.slug}/", {"max_concurrent_runs": 0}, format="json"
    )
    assert response.status_code == 400
    assert "max_concurrent_runs" in response.content.decode()
    project.refresh_from_db()
    assert project.max_concurrent_runs == 2
