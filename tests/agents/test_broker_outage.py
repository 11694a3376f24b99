"""The broker down while work is asked for: requests whose transaction committed answer
as usual, and the periodic sweep sends the work again once the broker is back."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.utils import timezone

from agents import services
from agents.models import Agent, AgentRun
from agents.services import orchestrator, runs
from config.celery import app as celery_app
from planning.models import Task
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db


@contextmanager
def broker_down() -> Iterator[None]:
    """Point the project's Celery app at a Redis where nothing listens (port 1), as the
    health tests do, with fresh connection pools so that sending really tries it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
        patch.setitem(celery_app.conf, "broker_transport", None)
        patch.setattr(celery_app, "_pool", None)
        patch.setattr(celery_app.amqp, "_producer_pool", None)
        yield
    # The pools made meanwhile point at the dead broker: the next send makes new ones.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_generate_answers_with_the_broker_down_and_the_sweep_sends_it_later(
    api, project, django_capture_on_commit_callbacks, caplog, settings
):
    base = f"/api/v1/projects/{project.slug}"
    with (
        broker_down(),
        caplog.at_level(logging.WARNING, logger="core.queue"),
        django_capture_on_commit_callbacks(execute=True) as sent,
    ):
        response = api.post(f"{base}/generate/", {"requirements": "## Core\n- Models"})

    assert response.status_code == 202, response.content
    assert len(sent) == 1
    assert "did not take agents.tasks.generate_plan" in caplog.text
    run = AgentRun.objects.get(pk=response.json()["id"])
    assert run.status == "queued"

    later = timezone.now() + timedelta(seconds=settings.QUEUED_RESEND_S + 1)
    with django_capture_on_commit_callbacks() as resent:
        runs.stale_runs_recover(now=later)
    assert len(resent) == 1
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        resent[0]()  # the broker is back: what a worker does with the message
    finally:
        celery_app.conf.task_always_eager = eager
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    # The project is free for the next generation.
    with django_capture_on_commit_callbacks():
        assert api.post(f"{base}/generate/", {"requirements": "- more"}).status_code == 202


def test_complete_answers_with_the_broker_down_and_the_sweep_dispatches_later(
    project, django_capture_on_commit_callbacks, caplog, coding_model
):
    project.status = "active"  # running: dispatch hands its work out
    project.save()
    issued = services.external_agent_create(project=project, name="claude-1")
    client = _agent_client(issued.key)
    TaskFactory(project=project, key="A")
    waiting = TaskFactory(project=project, key="B")
    with django_capture_on_commit_callbacks(execute=True):
        claimed = client.post(f"/api/v1/projects/{project.slug}/tasks/claim/", {}, format="json")
    run_id = claimed.json()["run"]["id"]
    AgentFactory(project=project, name="coder-1", type=Agent.Type.CODER)

    with (
        broker_down(),
        caplog.at_level(logging.WARNING, logger="core.queue"),
        django_capture_on_commit_callbacks(execute=True) as sent,
    ):
        done = client.post(
            f"/api/v1/projects/{project.slug}/runs/{run_id}/complete/",
            {"attempt": 1},
            format="json",
        )

    assert done.status_code == 200, done.content
    assert sent, "the completion asked for a dispatch"
    assert "did not take agents.tasks.dispatch_project" in caplog.text
    assert AgentRun.objects.get(pk=run_id).status == "succeeded"
    # The dispatch the broker did not take is the periodic sweep's: B goes to the coder.
    with django_capture_on_commit_callbacks():
        assert orchestrator.dispatch_waiting_work() == 1
    assert Task.objects.get(pk=waiting.pk).status == "in_progress"


def _agent_client(key: str):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {key}")
    return client
