"""A failed plan generation keeps the requirements it was given, shows them with the
error, and offers Retry, which plans the same requirements again."""

import pytest
from django.urls import reverse

from agents.models import AgentRun
from agents.services.planner import plan_generation_execute, plan_generation_start
from tests.fakes.openai_server import completion

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
REQUIREMENTS = (
    "## Ship\n- Dockerfile\n- Add/edit form\n- Deploy after Dockerfile and after Add/edit form\n"
)


def _failed_run(project, fake_llm, django_capture_on_commit_callbacks):
    fake_llm.script(completion("{}"), completion("{}"), completion("{}"))
    with django_capture_on_commit_callbacks(execute=False):
        run = plan_generation_start(project=project, requirements=REQUIREMENTS)
    plan_generation_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    return run


def retry_url(run):
    return reverse("planner:plan-retry", args=[run.project.slug, run.pk])


def test_a_failed_run_shows_its_requirements_and_a_retry_button(
    browser, project, fake_llm, django_capture_on_commit_callbacks
):
    run = _failed_run(project, fake_llm, django_capture_on_commit_callbacks)
    html = browser.get(
        reverse("planner:run-progress", args=[project.slug, run.pk]), **HTMX
    ).content.decode()
    assert 'role="alert"' in html and "The model gave no valid plan" in html
    assert "Deploy after Dockerfile and after Add/edit form" in html
    assert f'hx-post="{retry_url(run)}"' in html and ">Retry</button>" in html


def test_retry_plans_the_same_requirements_again(
    browser, project, fake_llm, settings, django_capture_on_commit_callbacks
):
    failed = _failed_run(project, fake_llm, django_capture_on_commit_callbacks)
    settings.LLM_PROVIDER = "offline"  # the model is back
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = browser.post(retry_url(failed), **HTMX)
    assert response.status_code == 200 and len(callbacks) == 1
    retried = AgentRun.objects.exclude(pk=failed.pk).get()
    assert retried.payload["requirements"] == REQUIREMENTS
    assert 'hx-trigger="every 2s"' in response.content.decode()  # its progress, polling
    plan_generation_execute(run_id=retried.pk)
    retried.refresh_from_db()
    assert retried.status == "succeeded", retried.error
    deploy = project.tasks.get(name="Deploy")
    assert sorted(deploy.depends_on.values_list("name", flat=True)) == [
        "Add/edit form",
        "Dockerfile",
    ]


def test_only_a_failed_run_can_be_retried_and_only_by_writers(
    browser, client, viewer, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        running = plan_generation_start(project=project, requirements=REQUIREMENTS)
    response = browser.post(retry_url(running), **HTMX)
    assert response.status_code == 400
    assert "Only a failed or cancelled plan generation can be retried." in response.content.decode()
    client.force_login(viewer)
    assert client.post(retry_url(running), **HTMX).status_code == 403
    assert AgentRun.objects.count() == 1
