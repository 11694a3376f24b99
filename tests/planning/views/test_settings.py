"""The project settings page: the project's name, description, mode and concurrency, and
its coding-run settings, checked against the real repository."""

import shutil
from pathlib import Path

import pytest

from planning.models import Project
from tests.agent_tools import temporary_tool
from tests.factories import MembershipFactory, UserFactory
from tests.gitrepos import make_repo
from tests.planning.views.pages import HTMX, page_messages, url

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("git") is None, reason="git not installed"),
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "checkout")


def form_data(**changes):
    data = {
        "name": "Crewboard",
        "description": "",
        "mode": "genesis",
        "max_concurrent_runs": "2",
        "root_path": "",
        "repository_url": "",
        "base_branch": "main",
        "setup_command": "",
        "verify_command": "",
        "max_qa_iterations": "3",
        "default_executor": "builtin",
        "review": "human",
        "merge_strategy": "squash",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_project_page_links_to_its_settings(browser, project):
    html = browser.get(url("project-detail")).content.decode()
    assert f'href="{url("project-settings")}"' in html


def test_the_page_shows_every_setting(browser, project, django_assert_max_num_queries):
    # session, user, membership with its project
    with temporary_tool("shell_test", risk="high"), django_assert_max_num_queries(3):
        response = browser.get(url("project-settings"))
    html = response.content.decode()
    assert response.status_code == 200
    for name in (
        "name",
        "description",
        "mode",
        "max_concurrent_runs",
        "root_path",
        "repository_url",
        "base_branch",
        "setup_command",
        "verify_command",
        "max_qa_iterations",
        "enabled_tools",
        "allow_network",
        "default_executor",
        "review",
        "merge_strategy",
        "keep_branches",
    ):
        assert f'name="{name}"' in html, name
    assert 'value="shell_test"' in html
    assert "shell_test (high risk)" in html
    assert "Claude Code" in html
    # What each mode means is said next to it.
    assert "Evolution: changes to an existing codebase" in html
    assert "<script>" not in html  # strict CSP: no inline script


def test_saving_the_settings(browser, project, repo):
    with temporary_tool("shell_test", risk="high"):
        response = browser.post(
            url("project-settings"),
            form_data(
                root_path=str(repo),
                setup_command="make install",
                verify_command="make test",
                max_qa_iterations="5",
                enabled_tools="shell_test",
                allow_network="on",
                default_executor="codex",
            ),
            follow=True,
        )
    assert page_messages(response.content.decode()) == ["Saved the project&#x27;s settings."]
    project.refresh_from_db()
    assert project.root_path == str(repo)
    assert (project.setup_command, project.verify_command) == ("make install", "make test")
    assert (project.max_qa_iterations, project.allow_network) == (5, True)
    assert (project.enabled_tools, project.default_executor) == (["shell_test"], "codex")


def test_renaming_the_project_and_changing_its_mode_and_concurrency(browser, project):
    response = browser.post(
        url("project-settings"),
        form_data(
            name="Crewboard 2",
            description="The control plane.",
            mode="evolution",
            max_concurrent_runs="5",
        ),
        follow=True,
    )
    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.name, project.description) == ("Crewboard 2", "The control plane.")
    assert (project.mode, project.max_concurrent_runs, project.slug) == (
        "evolution",
        5,
        "crewboard",
    )
    assert "<h1>Crewboard 2" in response.content.decode()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"name": ""}, "This field is required."),
        ({"mode": "sideways"}, "Select a valid choice."),
        ({"max_concurrent_runs": "0"}, "greater than or equal to 1"),
    ],
)
def test_bad_project_fields_show_on_their_field_and_save_nothing(browser, project, changes, error):
    response = browser.post(url("project-settings"), form_data(**changes), **HTMX)
    assert response.status_code == 400
    assert error in response.content.decode()
    saved = Project.objects.get(pk=project.pk)
    assert (saved.name, saved.mode, saved.max_concurrent_runs) == ("Crewboard", "genesis", 2)


def test_an_htmx_save_redirects_the_client(browser, project, repo):
    response = browser.post(url("project-settings"), form_data(root_path=str(repo)), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("project-settings")


def test_a_root_path_that_is_not_a_checkout_shows_on_its_field_and_saves_nothing(
    browser, project, tmp_path, django_assert_max_num_queries
):
    # session, user, membership with its project, and the form's check of the project's
    # constraints on the fields it shows (each in a savepoint): nothing is written
    with django_assert_max_num_queries(18):
        response = browser.post(
            url("project-settings"),
            form_data(root_path=str(tmp_path), verify_command="make test"),
            **HTMX,
        )
    assert response.status_code == 400
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="project-settings-form"')
    assert f"root_path {tmp_path} is not a git work tree" in html
    assert "field--invalid" in html
    project.refresh_from_db()
    assert (project.root_path, project.verify_command) == ("", "")


def test_a_missing_base_branch_is_shown_on_the_whole_page_without_htmx(browser, project, repo):
    response = browser.post(
        url("project-settings"), form_data(root_path=str(repo), base_branch="develop")
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "<title>" in html
    assert f"base branch &#x27;develop&#x27; does not exist in {repo}" in html
    assert Project.objects.get(pk=project.pk).base_branch == "main"


def test_max_qa_iterations_must_be_at_least_one(browser, project):
    response = browser.post(url("project-settings"), form_data(max_qa_iterations="0"), **HTMX)
    assert response.status_code == 400
    assert "greater than or equal to 1" in response.content.decode()


def test_a_repository_url_is_cloned_from_the_page(browser, project, repo, settings):
    response = browser.post(url("project-settings"), form_data(repository_url=str(repo)), **HTMX)
    assert response.status_code == 200
    project.refresh_from_db()
    assert project.root_path == str(Path(settings.REPOS_DIR) / "crewboard")
    assert (Path(project.root_path) / "README.md").exists()


def test_viewers_see_the_settings_but_cannot_save_them(client, project):
    viewer = MembershipFactory(project=project, role="viewer", user=UserFactory()).user
    client.force_login(viewer)
    html = client.get(url("project-settings")).content.decode()
    assert "Save settings" not in html
    assert "disabled" in html
    response = client.post(url("project-settings"), form_data(verify_command="rm -rf /"))
    assert response.status_code == 403
    assert Project.objects.get(pk=project.pk).verify_command == ""


def test_strangers_get_404(client, other_project):
    client.force_login(UserFactory())
    response = client.get(f"/projects/{other_project.slug}/settings/")
    assert response.status_code == 404
