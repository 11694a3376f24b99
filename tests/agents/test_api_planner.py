import json

import pytest

from agents.models import AgentRun
from agents.services.planner import plan_generation_execute
from planning.models import ConversationMessage
from planning.services.chat import chat_session_create
from planning.services.imports import demo_project_ensure
from tests.fakes.openai_server import completion

pytestmark = pytest.mark.django_db


def test_generate_queues_a_run_that_can_be_polled(api, project, django_capture_on_commit_callbacks):
    base = f"/api/v1/projects/{project.slug}"
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            f"{base}/generate/", {"requirements": "## Core\n- Models\n- API (after Models)"}
        )
    assert response.status_code == 202, response.data
    assert response.data["status"] == "queued" and response.data["kind"] == "planning"
    assert len(callbacks) == 1
    plan_generation_execute(run_id=response.data["id"])
    run = api.get(f"{base}/agent-runs/{response.data['id']}/").data
    assert run["status"] == "succeeded" and run["result"]["version"] == 1
    assert api.get(f"{base}/tasks/").data["count"] == 2
    assert api.post(f"{base}/generate/", {"requirements": ""}).status_code == 400


def test_generate_needs_write_access(viewer_api, project):
    response = viewer_api.post(
        f"/api/v1/projects/{project.slug}/generate/", {"requirements": "- x"}
    )
    assert response.status_code == 403
    assert not AgentRun.objects.exists()


def test_chat_over_the_api(api, user, fake_llm):
    demo = demo_project_ensure(owner=user)
    base = f"/api/v1/projects/{demo.slug}/chats"
    session = api.post(f"{base}/", {"title": "Tweak"}).data
    edits = [{"op": "update", "entity": "task", "key": "03-01-T1", "fields": {"priority": "high"}}]
    fake_llm.script(completion(json.dumps({"reply": "Raised it.", "edits": edits})))
    reply = api.post(f"{base}/{session['id']}/messages/", {"content": "Make the step loop urgent"})
    assert reply.status_code == 201 and reply.data["metadata"]["edit_status"] == "proposed"
    applied = api.post(f"{base}/{session['id']}/messages/{reply.data['id']}/apply/")
    assert applied.status_code == 201 and applied.data["number"] == 2
    assert api.post(f"{base}/{session['id']}/messages/{reply.data['id']}/apply/").status_code == 409
    assert api.post(f"{base}/{session['id']}/messages/999/discard/").status_code == 404
    detail = api.get(f"{base}/{session['id']}/").data
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert api.get(f"{base}/").data["count"] == 1


def test_chat_of_another_project_is_404(api, other_project):
    assert api.get(f"/api/v1/projects/{other_project.slug}/chats/").status_code == 404


def test_asking_the_assistant_is_for_members_who_write(
    api, viewer_api, project, other_project, user, client
):
    mine = chat_session_create(project=project, actor=user)
    theirs = chat_session_create(project=other_project)
    url = f"/api/v1/projects/{project.slug}/chats/{mine.pk}/messages/"

    assert viewer_api.post(url, {"content": "What is next?"}).status_code == 403
    # Another project's session through this project's URL, and this project's session
    # through a project the caller is not a member of: both as if they did not exist.
    elsewhere = f"/api/v1/projects/{project.slug}/chats/{theirs.pk}/messages/"
    assert api.post(elsewhere, {"content": "What is next?"}).status_code == 404
    stranger = f"/api/v1/projects/{other_project.slug}/chats/{theirs.pk}/messages/"
    assert api.post(stranger, {"content": "What is next?"}).status_code == 404
    assert not ConversationMessage.objects.exists()

    assert api.post(url, {"content": "What is next?"}).status_code == 201
    assert ConversationMessage.objects.filter(session=mine).count() == 2


def test_a_failed_generation_is_retried_with_its_requirements(
    api, viewer_api, project, other_project, settings, django_capture_on_commit_callbacks
):
    base = f"/api/v1/projects/{project.slug}"
    text = "## Ship\n- Dockerfile\n- Form\n- Deploy after Dockerfile and after Form"
    with django_capture_on_commit_callbacks(execute=False):
        first = api.post(f"{base}/generate/", {"requirements": text}).data
    assert api.post(f"{base}/generate/{first['id']}/retry/").status_code == 400  # still queued
    AgentRun.objects.filter(pk=first["id"]).update(status="failed", error="model down")

    assert viewer_api.post(f"{base}/generate/{first['id']}/retry/").status_code == 403
    other = f"/api/v1/projects/{other_project.slug}/generate/{first['id']}/retry/"
    assert api.post(other).status_code == 404
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(f"{base}/generate/{first['id']}/retry/")
    assert response.status_code == 202, response.data
    assert response.data["id"] != first["id"] and len(callbacks) == 1
    plan_generation_execute(run_id=response.data["id"])
    run = AgentRun.objects.get(pk=response.data["id"])
    assert run.status == "succeeded" and run.payload["requirements"] == text
