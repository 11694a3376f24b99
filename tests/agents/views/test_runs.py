"""The run pages' controls: the project's run controls, the latest runs, and a run's
cancel and retry."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent, AgentRun, AgentStep, Checkpoint
from planning.models import Project, Task
from tests.agents.views.pages import HTMX, POLLING, messages_of, url
from tests.agents.views.run_records import build_run
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_run_controls_follow_the_project_status(browser, project):
    html = browser.get(url("agent-list", project)).content.decode()
    controls = re.search(r'<section id="run-controls".*?</section>', html, re.S).group(0)
    assert f'hx-post="{url("project-run-start", project)}"' in controls
    assert ">Run</button>" in controls
    assert url("project-run-pause", project) not in controls
    assert url("project-run-cancel", project) not in controls

    Project.objects.filter(pk=project.pk).update(status=Project.Status.ACTIVE)
    html = browser.get(url("agent-list", project)).content.decode()
    controls = re.search(r'<section id="run-controls".*?</section>', html, re.S).group(0)
    assert '<span class="badge badge--active">Active</span>' in controls
    assert url("project-run-start", project) not in controls
    assert f'hx-post="{url("project-run-pause", project)}"' in controls
    assert f'hx-post="{url("project-run-cancel", project)}"' in controls

    Project.objects.filter(pk=project.pk).update(status=Project.Status.PAUSED)
    html = browser.get(url("agent-list", project)).content.decode()
    assert ">Resume</button>" in html


def test_run_starts_the_project_on_ready_tasks(
    browser, project, django_capture_on_commit_callbacks, coding_model
):
    agent = AgentFactory(project=project, name="coder-a", type=Agent.Type.CODER)
    task = TaskFactory(project=project, key="T1")

    with django_capture_on_commit_callbacks() as callbacks:
        response = browser.post(url("project-run-start", project), **HTMX)

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == url("agent-list", project)
    project.refresh_from_db()
    assert project.status == Project.Status.ACTIVE
    run = AgentRun.objects.get(project=project)
    assert (run.agent, run.task, run.status) == (agent, task, AgentRun.Status.RUNNING)
    assert len(callbacks) == 1  # the first step, enqueued on commit (not run here)
    assert Checkpoint.objects.filter(project=project, reason="run started").exists()
    assert messages_of(browser.get(url("agent-list", project))) == [
        "The project is running: started 1 run."
    ]


def test_run_without_a_coder_agent_says_why(browser, project):
    TaskFactory(project=project)
    AgentFactory(project=project, type=Agent.Type.EXTERNAL, name="claude")

    response = browser.post(url("project-run-start", project), **HTMX)

    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith('<section id="run-controls"')
    assert 'role="alert"' in html and "Add a coder" in html
    project.refresh_from_db()
    assert project.status == Project.Status.PLANNING
    assert not AgentRun.objects.exists()

    # Without htmx the message comes back on the page.
    response = browser.post(url("project-run-start", project), follow=True)
    assert any("Add a coder" in m for m in messages_of(response))


def test_pause_and_cancel(browser, project, django_capture_on_commit_callbacks):
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ACTIVE)
    active = build_run(project, steps=1, status="running")
    done = build_run(project, steps=1, status="succeeded")

    with django_capture_on_commit_callbacks():
        response = browser.post(url("project-run-pause", project), follow=True)
    assert response.redirect_chain == [(url("agent-list", project), 302)]
    assert messages_of(response) == [
        "Paused. No new runs start; running ones stop after their current step."
    ]
    project.refresh_from_db()
    assert project.status == Project.Status.PAUSED
    assert AgentRun.objects.get(pk=active.pk).status == "running"
    assert Checkpoint.objects.filter(project=project, reason="run paused").count() == 1

    with django_capture_on_commit_callbacks():
        response = browser.post(url("project-run-cancel", project), **HTMX)
    assert response.headers["HX-Redirect"] == url("agent-list", project)
    assert AgentRun.objects.get(pk=active.pk).status == "cancelled"
    assert AgentRun.objects.get(pk=done.pk).status == "succeeded"
    assert "cancelled 1 active run" in messages_of(browser.get(url("agent-list", project)))[0]


def test_the_agents_page_loads_the_latest_runs(browser, project):
    html = browser.get(url("agent-list", project)).content.decode()

    assert re.search(
        rf'<div id="run-table" hx-get="{url("run-list", project)}" hx-trigger="load"', html
    )


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("active", "The project is running"),
        ("paused", "“Resume” on the agents page"),
        ("planning", "“Run” on the agents page"),
    ],
)
def test_an_empty_run_table_names_the_button_the_project_shows(browser, project, status, says):
    Project.objects.filter(pk=project.pk).update(status=status)
    html = browser.get(url("run-list", project), **HTMX).content.decode()
    assert "No runs yet." in html
    assert says in html


def test_run_table_shows_the_latest_20_runs(browser, project, other_project):
    agent = AgentFactory(project=project, name="coder-a")
    base = timezone.now() - timedelta(hours=1)
    runs = []
    for i in range(22):
        task = TaskFactory(project=project, key=f"K{i:02d}", name=f"Task number {i}")
        run = AgentRunFactory(agent=agent, task=task, status="succeeded", started_at=base)
        AgentRun.objects.filter(pk=run.pk).update(created_at=base + timedelta(minutes=i))
        runs.append(run)
    build_run(other_project, steps=0, status="running")

    response = browser.get(url("run-list", project), **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="run-table"')
    assert html.count('<tr id="run-') == 20
    assert "K21" in html and "K02" in html and "K01" not in html
    assert html.index("K21") < html.index("K20")
    assert f'href="{url("run-detail", project, runs[21].pk)}"' in html
    assert '<span class="badge badge--succeeded">Succeeded</span>' in html
    assert "coder-a" in html and "ago" in html
    assert "hx-trigger" not in html  # nothing active: no polling
    page_two = browser.get(url("run-list", project) + "?page=2").content.decode()
    assert "K01" in page_two and "K00" in page_two


def test_run_table_polls_while_a_run_is_active(browser, project):
    build_run(project, steps=0, status="queued")

    html = browser.get(url("run-list", project), **HTMX).content.decode()

    assert POLLING in html and f'hx-get="{url("run-list", project)}"' in html
    assert '<span class="badge badge--queued">Queued</span>' in html


@pytest.mark.parametrize("n_runs", [2, 20])
def test_run_table_query_count_does_not_grow(browser, project, n_runs, django_assert_num_queries):
    for _ in range(n_runs):
        build_run(project, steps=0, status="running")

    # user, membership, count, rows (agent and task joined); the session comes from the
    # cache
    with django_assert_num_queries(4):
        response = browser.get(url("run-list", project), **HTMX)

    assert response.content.decode().count('<tr id="run-') == n_runs


def test_cancel_a_running_run(browser, project):
    task = TaskFactory(project=project, status=Task.Status.IN_PROGRESS)
    run = build_run(project, steps=1, status="running", task=task)

    response = browser.post(url("run-cancel", project, run.pk), **HTMX)

    assert response.headers["HX-Redirect"] == url("run-detail", project, run.pk)
    run.refresh_from_db()
    assert run.status == AgentRun.Status.CANCELLED and run.error == "cancelled by alice"
    assert Task.objects.get(pk=task.pk).status == Task.Status.PENDING
    # Cancelling again is refused with a message, not an error page.
    response = browser.post(url("run-cancel", project, run.pk), follow=True)
    assert any("already cancelled" in m for m in messages_of(response))


def test_retry_a_failed_run(browser, project, django_capture_on_commit_callbacks):
    run = build_run(project, steps=2, status="failed", error="model unreachable")
    AgentStep.objects.filter(run=run, number=2).update(status=AgentStep.Status.FAILED)

    with django_capture_on_commit_callbacks() as callbacks:
        response = browser.post(url("run-retry", project, run.pk))

    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == AgentRun.Status.RUNNING and run.error == ""
    assert AgentStep.objects.get(run=run, number=2).status == AgentStep.Status.RUNNING
    assert len(callbacks) == 1  # step 2 enqueued again, on commit
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert "Retrying run" in html and POLLING in html


def test_retry_is_refused_for_runs_that_did_not_fail(browser, project):
    run = build_run(project, steps=1, status="succeeded")

    response = browser.post(url("run-retry", project, run.pk), follow=True)

    assert any("Only a failed run can be retried" in m for m in messages_of(response))
    assert AgentRun.objects.get(pk=run.pk).status == "succeeded"


def test_an_external_agents_failed_run_is_not_retried_here(
    browser, project, django_capture_on_commit_callbacks
):
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL, name="claude")
    run = build_run(project, steps=0, status="failed", agent=agent)

    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        browser.post(url("run-retry", project, run.pk))

    assert url("run-retry", project, run.pk) not in html
    assert callbacks == []
    assert AgentRun.objects.get(pk=run.pk).status == "failed"
