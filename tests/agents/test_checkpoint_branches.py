"""Restoring a checkpoint can point a branch at its git commit: `git branch` only, in the
project's real repository, never touching the user's checkout."""

import shutil
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from agents import services
from agents.models import Checkpoint, DecisionLog
from core import git
from core.errors import ConflictError, DomainError
from planning.models import Feature, Project, SubFeature, Task
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    FeatureFactory,
    SubFeatureFactory,
    TaskFactory,
)
from tests.gitrepos import checkout_fingerprint, make_repo, run_git

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("git") is None, reason="git not installed"),
]


@pytest.fixture
def repo(project: Project, tmp_path: Path) -> Path:
    """The project's repository, with one commit."""
    path = make_repo(tmp_path / "repo", {"README.md": "hello\n", "src/app.py": "x = 1\n"})
    Project.objects.filter(pk=project.pk).update(root_path=str(path))
    project.refresh_from_db()
    return path


@pytest.fixture
def checkpoint(project: Project, repo: Path) -> Checkpoint:
    """Taken at the first commit with task A pending; since then A is done, the repository
    has a second commit, and the user has work in progress: a staged edit, an unstaged
    one and an untracked file."""
    TaskFactory(project=project, key="A")
    taken = services.checkpoint_snapshot(project=project, name="before")
    Task.objects.filter(project=project, key="A").update(status="done")
    (repo / "README.md").write_text("second\n")
    run_git(repo, "commit", "-qam", "second")
    (repo / "README.md").write_text("staged\n")
    run_git(repo, "add", "README.md")
    (repo / "src" / "app.py").write_text("x = 2  # not yet staged\n")
    (repo / "notes.txt").write_text("untracked\n")
    return taken


def branch_of(checkpoint: Checkpoint) -> str:
    return f"crewboard/restore-{checkpoint.pk}"


def refs(repo: Path) -> str:
    return run_git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def task_status(project: Project) -> str:
    return Task.objects.get(project=project, key="A").status


# The service --------------------------------------------------------------------------


def test_a_restore_points_a_branch_at_the_commit_and_leaves_the_checkout_alone(
    project, repo, checkpoint
):
    before = checkout_fingerprint(repo)

    decision = services.checkpoint_restore(checkpoint=checkpoint, git_branch=True)

    assert checkout_fingerprint(repo) == before
    assert git.rev_parse(repo, f"refs/heads/{branch_of(checkpoint)}") == checkpoint.git_commit
    assert task_status(project) == "pending"  # the database was restored
    assert decision.reasoning["git_branch"] == {
        "name": branch_of(checkpoint),
        "commit": checkpoint.git_commit,
        "made": True,
    }
    assert branch_of(checkpoint) in decision.reasoning["files"]


def test_restoring_again_finds_its_branch_already_there(project, repo, checkpoint):
    services.checkpoint_restore(checkpoint=checkpoint, git_branch=True)
    Task.objects.filter(project=project, key="A").update(status="done")

    decision = services.checkpoint_restore(checkpoint=checkpoint, git_branch=True)

    assert decision.reasoning["git_branch"]["made"] is False
    assert git.rev_parse(repo, f"refs/heads/{branch_of(checkpoint)}") == checkpoint.git_commit
    assert task_status(project) == "pending"


def test_a_branch_that_points_elsewhere_stops_the_restore(project, repo, checkpoint):
    run_git(repo, "branch", branch_of(checkpoint), "HEAD")  # the second commit
    before, decisions = refs(repo), DecisionLog.objects.count()

    with pytest.raises(ConflictError, match="already exists and points at") as raised:
        services.checkpoint_restore(checkpoint=checkpoint, git_branch=True)

    assert "nothing was restored" in raised.value.message
    assert refs(repo) == before
    assert task_status(project) == "done"
    assert DecisionLog.objects.count() == decisions


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, tmp: Checkpoint.objects.filter(pk=c.pk).update(git_commit=""), "no git commit"),
        (lambda c, tmp: Project.objects.filter(pk=c.project_id).update(root_path=""), "not set"),
        (
            lambda c, tmp: Project.objects.filter(pk=c.project_id).update(root_path=str(tmp)),
            "not a git work tree",
        ),
        (
            # The project now points at another repository, which never had that commit.
            lambda c, tmp: Project.objects.filter(pk=c.project_id).update(
                root_path=str(make_repo(tmp / "other"))
            ),
            "is not in the repository",
        ),
    ],
    ids=["no commit recorded", "no root path", "not a repository", "commit missing"],
)
def test_a_branch_that_cannot_be_made_is_explained_and_nothing_is_restored(
    project, repo, checkpoint, tmp_path, change, message
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    change(checkpoint, elsewhere)
    checkpoint.refresh_from_db()
    checkpoint.project.refresh_from_db()
    before, decisions = refs(repo), DecisionLog.objects.count()

    with pytest.raises(DomainError, match=message) as raised:
        services.checkpoint_restore(checkpoint=checkpoint, git_branch=True)

    assert raised.value.field == "git_branch"
    assert "nothing was restored" in raised.value.message
    assert refs(repo) == before
    assert task_status(project) == "done"
    assert DecisionLog.objects.count() == decisions
    # Without the branch, the same checkpoint restores.
    services.checkpoint_restore(checkpoint=checkpoint)
    assert task_status(project) == "pending"


@pytest.mark.parametrize("branch_before", [False, True], ids=["made", "already there"])
def test_a_restore_that_fails_after_the_branch_takes_back_only_a_branch_it_made(
    project, repo, checkpoint, branch_before
):
    if branch_before:
        run_git(repo, "branch", branch_of(checkpoint), checkpoint.git_commit)
    before = refs(repo)
    AgentRunFactory(project=project, agent=AgentFactory(project=project), status="running")

    with pytest.raises(ConflictError, match="Agents are working"):
        services.checkpoint_restore(checkpoint=checkpoint, git_branch=True)

    assert refs(repo) == before
    assert task_status(project) == "done"


def test_without_the_option_no_branch_is_made(project, repo, checkpoint):
    before = refs(repo)

    decision = services.checkpoint_restore(checkpoint=checkpoint)

    assert refs(repo) == before
    assert "git_branch" not in decision.reasoning


def test_a_restore_rolls_the_statuses_it_puts_back_up(project, repo):
    feature = FeatureFactory(project=project)
    sub = SubFeatureFactory(feature=feature)
    TaskFactory(project=project, key="T", feature=feature, sub_feature=sub, status="in_progress")
    taken = services.checkpoint_snapshot(project=project, name="mid-way")
    Task.objects.filter(project=project, key="T").update(status="done")
    SubFeature.objects.filter(pk=sub.pk).update(status="done")
    Feature.objects.filter(pk=feature.pk).update(status="done")

    services.checkpoint_restore(checkpoint=taken)

    assert SubFeature.objects.get(pk=sub.pk).status == "in_progress"
    assert Feature.objects.get(pk=feature.pk).status == "in_progress"


# The API and the page -----------------------------------------------------------------


def restore_api_url(checkpoint: Checkpoint) -> str:
    return f"/api/v1/projects/{checkpoint.project.slug}/checkpoints/{checkpoint.pk}/restore/"


def test_api_restore_with_a_branch(api: APIClient, project, repo, checkpoint):
    response = api.post(restore_api_url(checkpoint), {"git_branch": True}, format="json")

    assert response.status_code == 200, response.data
    assert response.data["git_branch"] == {
        "name": branch_of(checkpoint),
        "commit": checkpoint.git_commit,
        "made": True,
    }
    assert git.branch_exists(repo, branch_of(checkpoint))
    plain = api.post(restore_api_url(checkpoint), format="json")
    assert (plain.status_code, plain.data["git_branch"]) == (200, None)


def test_api_says_why_a_branch_cannot_be_made(api: APIClient, project, repo, checkpoint):
    run_git(repo, "branch", branch_of(checkpoint), "HEAD")
    conflict = api.post(restore_api_url(checkpoint), {"git_branch": True}, format="json")
    Checkpoint.objects.filter(pk=checkpoint.pk).update(git_commit="")
    no_commit = api.post(restore_api_url(checkpoint), {"git_branch": True}, format="json")

    assert conflict.status_code == 409
    assert "already exists" in conflict.data["detail"]
    assert no_commit.status_code == 400
    assert "no git commit" in str(no_commit.data)
    assert task_status(project) == "done"


def test_the_page_offers_the_branch_and_the_restore_makes_it(browser, project, repo, checkpoint):
    diff_url = reverse("agents:checkpoint-diff", args=[project.slug, checkpoint.pk])
    restore_url = reverse("agents:checkpoint-restore", args=[project.slug, checkpoint.pk])
    page = browser.get(diff_url).content.decode()
    assert 'name="git_branch"' in page and branch_of(checkpoint) in page

    response = browser.post(restore_url, {"git_branch": "on"}, follow=True)

    [message] = [str(m) for m in response.context["messages"]]
    assert f"branch {branch_of(checkpoint)} points at its commit" in message
    assert git.branch_exists(repo, branch_of(checkpoint))
    assert task_status(project) == "pending"


def test_the_page_shows_why_the_branch_was_refused(browser, project, repo, checkpoint):
    run_git(repo, "branch", branch_of(checkpoint), "HEAD")
    restore_url = reverse("agents:checkpoint-restore", args=[project.slug, checkpoint.pk])

    response = browser.post(restore_url, {"git_branch": "on"}, follow=True)

    [message] = [str(m) for m in response.context["messages"]]
    assert "already exists" in message
    diff_url = reverse("agents:checkpoint-diff", args=[project.slug, checkpoint.pk])
    assert response.redirect_chain[-1][0] == diff_url
    assert task_status(project) == "done"


def test_without_a_commit_the_page_offers_no_branch(browser, project):
    taken = services.checkpoint_snapshot(project=project, name="no repository")

    page = browser.get(reverse("agents:checkpoint-diff", args=[project.slug, taken.pk]))

    html = page.content.decode()
    assert 'name="git_branch"' not in html
    assert 'id="checkpoint-no-branch"' in html
