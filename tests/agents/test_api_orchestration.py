import pytest

from agents.models import AgentRun, DecisionLog
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_run_pause_cancel_over_the_api(
    api, project, django_capture_on_commit_callbacks, coding_model
):
    base = f"/api/v1/projects/{project.slug}"
    TaskFactory(project=project, key="A")
    AgentFactory(project=project, name="coder-1")
    with django_capture_on_commit_callbacks():
        response = api.post(f"{base}/run/", {"action": "start"})
    assert response.status_code == 200, response.data
    assert response.data["status"] == "active" and len(response.data["started"]) == 1
    run_id = response.data["started"][0]["id"]
    assert api.post(f"{base}/run/", {"action": "pause"}).data["status"] == "paused"
    assert api.post(f"{base}/agent-runs/{run_id}/cancel/").data["status"] == "cancelled"
    assert api.post(f"{base}/agent-runs/{run_id}/cancel/").status_code == 409
    assert api.post(f"{base}/agent-runs/{run_id}/retry/").status_code == 409
    assert api.post(f"{base}/run/", {"action": "explode"}).status_code == 400


def test_running_without_agents_is_a_clear_400(api, project):
    response = api.post(f"/api/v1/projects/{project.slug}/run/", {"action": "start"})
    assert response.status_code == 400 and "Add a coder" in str(response.data)


def test_viewers_cannot_run_or_answer(viewer_api, project):
    TaskFactory(project=project, key="H", type="checkpoint:human-verify")
    base = f"/api/v1/projects/{project.slug}"
    assert viewer_api.post(f"{base}/run/", {"action": "start"}).status_code == 403
    assert viewer_api.get(f"{base}/human-checkpoints/").status_code == 200
    response = viewer_api.post(f"{base}/human-checkpoints/H/answer/", {"approved": True})
    assert response.status_code == 403
    assert not DecisionLog.objects.exists()


def test_human_checkpoint_inbox_and_answer(api, project):
    TaskFactory(project=project, key="H", type="checkpoint:human-verify", name="Check the page")
    TaskFactory(project=project, key="T")
    base = f"/api/v1/projects/{project.slug}"
    inbox = api.get(f"{base}/human-checkpoints/").data
    assert [t["key"] for t in inbox] == ["H"] and inbox[0]["needs_human"]
    response = api.post(f"{base}/human-checkpoints/H/answer/", {"approved": True, "note": "ok"})
    assert response.status_code == 200 and response.data["status"] == "done"
    assert DecisionLog.objects.get().reasoning["note"] == "ok"
    assert api.get(f"{base}/human-checkpoints/").data == []
    assert api.post(f"{base}/human-checkpoints/T/answer/", {"approved": True}).status_code == 400
    assert api.post(f"{base}/human-checkpoints/NOPE/answer/", {"approved": True}).status_code == 404


def test_other_projects_runs_are_404(api, other_project):
    run = AgentRun.objects.create(
        project=other_project, agent=AgentFactory(project=other_project), idempotency_key="x"
    )
    assert (
        api.post(f"/api/v1/projects/{other_project.slug}/agent-runs/{run.pk}/cancel/").status_code
        == 404
    )
