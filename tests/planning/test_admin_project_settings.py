"""The admin's project form: coding-run settings, with the repository checked as the
service checks it (errors on their fields, nothing saved)."""

import shutil
from pathlib import Path

import pytest

from planning.models import Project
from tests.factories import UserFactory
from tests.gitrepos import make_repo
from tests.planning.test_admin import admin_url, form_data

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("git") is None, reason="git not installed"),
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "checkout")


def change(admin_client, project, **values):
    url = admin_url(Project, "change", project.pk)
    data = form_data(admin_client.get(url))
    data.update(values)
    return admin_client.post(url, data)


def test_the_change_form_saves_the_coding_settings(admin_client, project, repo):
    response = change(
        admin_client,
        project,
        root_path=str(repo),
        setup_command="make install",
        verify_command="make test",
        max_qa_iterations=4,
        allow_network="on",
        default_executor="aider",
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.root_path == str(repo)
    assert (project.setup_command, project.verify_command) == ("make install", "make test")
    assert (project.max_qa_iterations, project.allow_network) == (4, True)
    assert project.default_executor == "aider"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"root_path": "{tmp}"}, "root_path {tmp} is not a git work tree"),
        ({"root_path": "{repo}", "base_branch": "dev"}, "base branch &#x27;dev&#x27; does not"),
        ({"repository_url": "ssh://host/x.git"}, "only local paths, file:// and https://"),
        ({"max_qa_iterations": 0}, "greater than or equal to 1"),
        ({"max_concurrent_runs": 0}, "greater than or equal to 1"),
        ({"enabled_tools": '["nope"]'}, "Unknown tool &#x27;nope&#x27;"),
    ],
)
def test_a_bad_setting_shows_on_the_form_and_saves_nothing(
    admin_client, project, repo, tmp_path, values, message
):
    values = {k: v.format(tmp=tmp_path, repo=repo) if isinstance(v, str) else v
              for k, v in values.items()}  # fmt: skip
    response = change(admin_client, project, verify_command="make test", **values)
    assert response.status_code == 200
    assert message.format(tmp=tmp_path, repo=repo) in response.content.decode()
    saved = Project.objects.get(pk=project.pk)
    assert (saved.root_path, saved.verify_command, saved.max_qa_iterations) == ("", "", 3)


def test_changing_the_owner_alone_still_saves(admin_client, project):
    owner = UserFactory(username="olga")
    response = change(admin_client, project, owner=owner.pk)
    assert response.status_code == 302
    assert Project.objects.get(pk=project.pk).owner == owner


def test_adding_a_project_from_a_repository_url_clones_it(admin_client, repo, settings):
    owner = UserFactory(username="olivia")
    response = admin_client.post(
        admin_url(Project, "add"),
        {
            "name": "Shop",
            "slug": "shop",
            "owner": owner.pk,
            "mode": "genesis",
            "status": "planning",
            "repository_url": f"file://{repo}",
            "base_branch": "main",
            "max_concurrent_runs": 2,
            "max_qa_iterations": 3,
            "default_executor": "builtin",
            "review": "human",
            "merge_strategy": "squash",
            "enabled_tools": "[]",
        },
    )
    assert response.status_code == 302
    project = Project.objects.get(slug="shop")
    assert project.root_path == str(Path(settings.REPOS_DIR) / "shop")
    assert (Path(project.root_path) / "README.md").exists()
