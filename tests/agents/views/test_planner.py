"""The "Generate plan" panel of the project page, and the planner's run fragment, which
the page loads as it opens and which polls until the run ends."""

import re

import pytest
from django.urls import reverse

from agents.models import AgentRun
from agents.services.planner import plan_generation_execute, plan_generation_start
from planning.models import DevPlanVersion, Project
from tests.factories import AgentFactory, AgentRunFactory, ProjectFactory, TaskFactory
from tests.fakes.openai_server import completion

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
REQUIREMENTS = """## Accounts
- User model (high)
- Login page, after User model

## Billing
- Invoices (depends on Login page)
"""
POLLING = 'hx-trigger="every 2s"'


def detail_url(project: Project) -> str:
    return reverse("planning:project-detail", args=[project.slug])


def generate_url(project: Project) -> str:
    return reverse("planner:plan-generate", args=[project.slug])


def progress_url(run: AgentRun) -> str:
    return reverse("planner:run-progress", args=[run.project.slug, run.pk])


def latest_url(project: Project) -> str:
    return reverse("planner:plan-run", args=[project.slug])


def plan_run_panel(browser, project: Project) -> str:
    """What the project page shows of plan generation: it loads the latest run's panel
    as it opens, from the planner."""
    page = browser.get(detail_url(project)).content.decode()
    placeholder = re.search(r'<div id="plan-run"[^>]*>', page).group(0)
    assert f'hx-get="{latest_url(project)}"' in placeholder
    assert 'hx-trigger="load"' in placeholder
    return browser.get(latest_url(project), **HTMX).content.decode()


def start(project: Project, django_capture_on_commit_callbacks, text: str = REQUIREMENTS):
    with django_capture_on_commit_callbacks(execute=False):
        return plan_generation_start(project=project, requirements=text, actor=project.owner)


def triggered_events(response) -> str:
    return response.headers.get("HX-Trigger", "")


# The panel ------------------------------------------------------------------------------


def test_panel_is_prefilled_with_the_project_description(browser, project):
    project.description = "A board for agents & their <plans>"
    project.save()

    html = browser.get(detail_url(project)).content.decode()

    form = re.search(r'<form id="plan-generate-form".*?</form>', html, re.S).group(0)
    assert f'hx-post="{generate_url(project)}"' in form
    assert 'hx-target="#plan-run"' in form
    assert "A board for agents &amp; their &lt;plans&gt;</textarea>" in form
    # No run yet: an empty placeholder for the first run's progress to replace.
    assert plan_run_panel(browser, project).strip() == '<div id="plan-run"></div>'


def test_viewers_see_no_generate_panel(client, project, viewer):
    client.force_login(viewer)

    html = client.get(detail_url(project)).content.decode()

    assert "plan-generate-form" not in html
    assert generate_url(project) not in html


# Generating end to end (offline provider) ------------------------------------------------


def test_offline_generation_polls_until_done_then_shows_the_version(
    browser, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = browser.post(generate_url(project), {"requirements": REQUIREMENTS}, **HTMX)

    assert response.status_code == 200
    assert len(callbacks) == 1  # the Celery task, enqueued once the run is committed
    run = AgentRun.objects.get(project=project, kind="planning")
    assert run.status == "queued"
    assert run.payload["requirements"] == REQUIREMENTS
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="plan-run"')
    assert "<html" not in html
    assert f'hx-get="{progress_url(run)}"' in html
    assert POLLING in html
    assert 'hx-swap="outerHTML"' in html
    assert "Queued" in html
    assert "plan-changed" not in triggered_events(response)

    # The worker has not picked it up yet: the fragment keeps polling.
    response = browser.get(progress_url(run), **HTMX)
    assert POLLING in response.content.decode()
    assert "plan-changed" not in triggered_events(response)

    plan_generation_execute(run_id=run.pk)

    response = browser.get(progress_url(run), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "hx-trigger" not in html  # polling stops
    assert "hx-get" not in html
    assert "Succeeded" in html
    assert f'href="{reverse("planning:version-detail", args=[project.slug, 1])}"' in html
    assert "plan-changed" in triggered_events(response)
    assert set(project.tasks.values_list("key", flat=True)) == {"F01-T1", "F01-T2", "F02-T1"}
    assert DevPlanVersion.objects.filter(plan__project=project, number=1).exists()

    # The project page shows the finished run, not polling, with its version.
    panel = plan_run_panel(browser, project)
    assert "Succeeded" in panel
    assert POLLING not in panel
    assert "Version 1" in panel
    assert "F01-T2" in browser.get(f"{detail_url(project)}?task=F01-T2").content.decode()


def test_the_outcome_names_what_was_added(browser, project, django_capture_on_commit_callbacks):
    run = start(project, django_capture_on_commit_callbacks)
    plan_generation_execute(run_id=run.pk)

    html = browser.get(progress_url(run), **HTMX).content.decode()

    summary = AgentRun.objects.get(pk=run.pk).result["summary"]
    assert summary.startswith("added ")
    assert f"{summary[0].upper()}{summary[1:]}." in html


def test_a_running_run_shows_its_stage_and_attempt(
    browser, project, django_capture_on_commit_callbacks
):
    run = start(project, django_capture_on_commit_callbacks)
    AgentRun.objects.filter(pk=run.pk).update(
        status="running", result={"stage": "asking the model", "attempt": 2}
    )

    html = browser.get(progress_url(run), **HTMX).content.decode()

    assert "Running" in html
    assert '<span class="run-stage">asking the model</span>' in html
    assert "attempt 2 of 3" in html
    assert POLLING in html


def test_the_project_page_polls_a_run_in_progress(
    browser, project, django_capture_on_commit_callbacks
):
    run = start(project, django_capture_on_commit_callbacks)

    html = plan_run_panel(browser, project)

    panel = re.search(r'<section id="plan-run".*?>', html, re.S).group(0)
    assert f'hx-get="{progress_url(run)}"' in panel
    assert POLLING in panel


def test_the_project_page_shows_the_latest_run(browser, project):
    agent = AgentFactory(project=project, name="planner", type="planner")
    AgentRunFactory(
        project=project, agent=agent, kind="planning", status="failed", error="Old failure"
    )
    AgentRunFactory(project=project, agent=agent, kind="task", status="running")
    latest = AgentRunFactory(
        project=project,
        agent=agent,
        kind="planning",
        status="succeeded",
        result={"stage": "done", "summary": "added 4 tasks", "version": None},
    )

    html = plan_run_panel(browser, project)

    assert f"run {latest.pk}" in html
    assert "Old failure" not in html
    assert "Added 4 tasks." in html
    assert "Nothing changed, so no version was saved." in html
    assert POLLING not in html  # a task run is not a planning run


def test_without_javascript_posting_returns_to_the_project_page(
    browser, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = browser.post(generate_url(project), {"requirements": REQUIREMENTS})

    assert response.status_code == 302
    assert response.url == detail_url(project)
    assert "Generating a plan" in browser.get(response.url).content.decode()
    assert POLLING in plan_run_panel(browser, project)


# Failures ------------------------------------------------------------------------------


def test_a_failed_run_shows_its_error_and_stops_polling(
    browser, project, fake_llm, django_capture_on_commit_callbacks
):
    fake_llm.script(completion("{}"), completion("{}"), completion("{}"))
    run = start(project, django_capture_on_commit_callbacks)
    plan_generation_execute(run_id=run.pk)

    response = browser.get(progress_url(run), **HTMX)

    html = response.content.decode()
    assert len(fake_llm.requests) == 3
    assert "Failed" in html
    assert "The model gave no valid plan in 3 attempts" in html
    assert 'role="alert"' in html
    assert "hx-trigger" not in html
    assert "attempt 3 of 3" in html
    assert "plan-changed" not in triggered_events(response)
    assert not project.tasks.exists()


def test_empty_requirements_show_the_form_error(browser, project):
    response = browser.post(generate_url(project), {"requirements": "  \n "}, **HTMX)

    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#plan-generate-form"
    assert response.headers["HX-Reswap"] == "outerHTML"
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="plan-generate-form"')
    assert "Describe the requirements to plan." in html
    assert "field--invalid" in html
    assert not AgentRun.objects.exists()


def test_empty_requirements_without_javascript_show_the_page_with_the_error(browser, project):
    response = browser.post(generate_url(project), {"requirements": ""})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Describe the requirements to plan." in html
    assert "<html" in html
    assert not AgentRun.objects.exists()


def test_a_second_generation_while_one_runs_is_refused(
    browser, project, django_capture_on_commit_callbacks
):
    start(project, django_capture_on_commit_callbacks)

    response = browser.post(generate_url(project), {"requirements": "- more"}, **HTMX)

    assert response.status_code == 400
    assert "A plan is already being generated for this project." in response.content.decode()
    assert AgentRun.objects.count() == 1


# Access --------------------------------------------------------------------------------


def test_viewers_cannot_generate(client, project, viewer):
    client.force_login(viewer)

    response = client.post(generate_url(project), {"requirements": REQUIREMENTS}, **HTMX)

    assert response.status_code == 403
    assert not AgentRun.objects.exists()


def test_viewers_can_watch_a_run(client, project, viewer, django_capture_on_commit_callbacks):
    run = start(project, django_capture_on_commit_callbacks)
    client.force_login(viewer)

    response = client.get(progress_url(run), **HTMX)

    assert response.status_code == 200
    assert POLLING in response.content.decode()


def test_non_members_get_404(browser, other_project, django_capture_on_commit_callbacks):
    run = start(other_project, django_capture_on_commit_callbacks)

    assert browser.post(generate_url(other_project), {"requirements": "- x"}).status_code == 404
    assert browser.get(progress_url(run)).status_code == 404
    assert AgentRun.objects.count() == 1


def test_a_run_of_another_project_is_404(browser, project, django_capture_on_commit_callbacks):
    mine = ProjectFactory(owner=project.owner, slug="mine")
    run = start(mine, django_capture_on_commit_callbacks)

    path = reverse("planner:run-progress", args=[project.slug, run.pk])

    assert browser.get(path).status_code == 404
    assert browser.get(progress_url(run)).status_code == 200


def test_anonymous_users_are_sent_to_login(client, project, django_capture_on_commit_callbacks):
    run = start(project, django_capture_on_commit_callbacks)

    for response in (
        client.post(generate_url(project), {"requirements": "- x"}),
        client.get(progress_url(run)),
    ):
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert AgentRun.objects.count() == 1


# CSP -----------------------------------------------------------------------------------


def test_generation_markup_needs_no_inline_script_or_style(
    browser, project, django_capture_on_commit_callbacks
):
    TaskFactory(project=project, key="T1")
    run = start(project, django_capture_on_commit_callbacks)
    for response in (browser.get(detail_url(project)), browser.get(progress_url(run), **HTMX)):
        html = response.content.decode()
        assert response.status_code == 200
        assert "plan-run" in html
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
        assert "style=" not in html
        assert "<style" not in html
        assert "hx-on" not in html


def test_strangers_get_no_plan_run(client, project, other_project):
    client.force_login(other_project.owner)
    assert client.get(latest_url(project), **HTMX).status_code == 404


def test_opening_the_page_does_not_announce_an_old_success(browser, project):
    """Only the poll that sees a run finish refreshes the plan; loading the panel of a
    run that finished long ago does not refetch the page's summary."""
    agent = AgentFactory(project=project, name="planner", type="planner")
    run = AgentRunFactory(
        project=project, agent=agent, kind="planning", status="succeeded", result={"stage": "done"}
    )

    assert "plan-changed" not in triggered_events(browser.get(latest_url(project), **HTMX))
    assert "plan-changed" in triggered_events(browser.get(progress_url(run), **HTMX))
