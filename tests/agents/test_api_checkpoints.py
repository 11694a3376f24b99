"""Checkpoints over the API: created from the state, diffed and restored by members who
may, and scoped to their project."""

import json

import pytest
from rest_framework.test import APIClient

from agents import services
from agents.models import Agent, Checkpoint, DecisionLog
from planning.models import Project, Task
from tests.agents.checkpointing import bad_status, corrupt, mutate, populate, state_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(project: Project) -> Agent:
    return populate(project)


def url(project: Project, *parts: object) -> str:
    tail = "".join(f"{part}/" for part in parts)
    return f"/api/v1/projects/{project.slug}/checkpoints/{tail}"


def test_api_create_captures_the_state_instead_of_taking_it(api: APIClient, project, agent):
    response = api.post(
        url(project),
        {"name": "by hand", "reason": "before merge", "state": {"x": 1}, "git_commit": "abc"},
    )

    assert response.status_code == 201, response.data
    checkpoint = Checkpoint.objects.get()
    assert (checkpoint.name, checkpoint.reason, checkpoint.git_commit) == (
        "by hand",
        "before merge",
        "",
    )
    assert checkpoint.state["tasks"]["01-02-T1"]["status"] == "in_progress"
    assert response.data["state"] == checkpoint.state
    # Renaming still works, and the captured state still cannot be replaced.
    patched = api.patch(url(project, checkpoint.pk), {"name": "renamed", "state": {}})
    assert patched.status_code == 200
    checkpoint.refresh_from_db()
    assert checkpoint.name == "renamed"
    assert checkpoint.state == response.data["state"]


def test_api_diff_and_restore(api: APIClient, project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    captured = json.dumps(checkpoint.state, sort_keys=True)
    mutate(project)

    diff = api.get(url(project, checkpoint.pk, "diff"))
    assert diff.status_code == 200, diff.data
    assert diff.data["plan"]["tasks"]["added"] == ["03-01-T1"]
    assert diff.data["agent_state"]["added"][0]["key"] == "notes"
    assert diff.data["tasks"][0]["fields"]["status"] == {"before": "failed", "after": "done"}

    restored = api.post(url(project, checkpoint.pk, "restore"))
    assert restored.status_code == 200, restored.data
    assert restored.data["summary"] == diff.data["summary"]
    assert restored.data["decision"]["decision"] == "Restored checkpoint c"
    assert restored.data["warnings"] == []
    assert state_json(project) == captured
    assert api.get(url(project, checkpoint.pk, "diff")).data["empty"] is True


def test_api_viewers_can_diff_but_not_restore(viewer_api: APIClient, project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    mutate(project)
    before_state, decisions = state_json(project), DecisionLog.objects.count()

    assert viewer_api.get(url(project, checkpoint.pk, "diff")).status_code == 200
    assert viewer_api.post(url(project, checkpoint.pk, "restore")).status_code == 403
    assert viewer_api.post(url(project), {"name": "mine"}).status_code == 403

    assert state_json(project) == before_state
    assert DecisionLog.objects.count() == decisions
    assert Checkpoint.objects.count() == 1


def test_api_another_projects_checkpoint_is_404(api: APIClient, project, other_project):
    populate(other_project)
    checkpoint = services.checkpoint_snapshot(project=other_project, name="theirs")
    Task.objects.filter(project=other_project).update(status="failed")

    for slug_project in (project, other_project):
        assert api.get(url(slug_project, checkpoint.pk, "diff")).status_code == 404
        assert api.post(url(slug_project, checkpoint.pk, "restore")).status_code == 404
    assert set(other_project.tasks.values_list("status", flat=True)) == {"failed"}


def test_api_restore_of_an_unusable_checkpoint_is_400(api: APIClient, project, agent):
    checkpoint = services.checkpoint_snapshot(project=project, name="c")
    corrupt(checkpoint, bad_status)
    mutate(project)
    before_state = state_json(project)

    response = api.post(url(project, checkpoint.pk, "restore"))

    assert response.status_code == 400
    assert "cannot be restored" in response.data["detail"]
    assert state_json(project) == before_state
