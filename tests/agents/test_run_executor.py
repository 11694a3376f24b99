"""A run records the executor that carried it out, as the agent's was when it started,
and shows it on the run page, over the API and in the admin."""

import pytest
from django.urls import reverse

from agents.models import AgentRun
from agents.services import runs
from tests.agents.views.pages import url
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(project, tmp_path) -> AgentRun:
    project.root_path = str(tmp_path)  # a coding run: the CLI works in a worktree
    project.save()
    agent = AgentFactory(
        project=project, name="scripted", executor="command", executor_command=["true"]
    )
    task = TaskFactory(project=project, key="T-1", status="in_progress")
    run = AgentRunFactory(project=project, agent=agent, task=task, status="queued")
    return runs.run_start(run=run)


def test_a_run_records_its_agents_executor_when_it_starts(started):
    assert started.executor == "command"
    # The agent changes its executor later: the run still says what ran it.
    started.agent.executor = "codex"
    started.agent.save()
    started.refresh_from_db()
    assert started.executor == "command"


def test_a_queued_run_has_no_executor_yet(project):
    run = AgentRunFactory(project=project, status="queued")
    assert run.executor == ""


def test_the_api_shows_the_runs_executor(api, project, started):
    answer = api.get(f"/api/v1/projects/{project.slug}/agent-runs/{started.pk}/")
    assert answer.status_code == 200
    assert answer.json()["executor"] == "command"


def test_the_api_does_not_let_the_executor_be_set(api, project, started):
    api.patch(
        f"/api/v1/projects/{project.slug}/agent-runs/{started.pk}/",
        {"executor": "codex"},
        format="json",
    )
    started.refresh_from_db()
    assert started.executor == "command"


def test_the_run_page_shows_the_runs_executor(browser, project, started):
    started.agent.executor = "codex"  # not what the run page should show
    started.agent.save()
    html = browser.get(url("run-detail", project, started.pk)).content.decode()
    executor = html.split('id="run-executor">', 1)[1].split("</dd>", 1)[0]
    assert executor == "Command of your own"


def test_the_admin_shows_the_runs_executor(admin_client, started):
    cell = '<td class="field-executor">Command of your own</td>'
    changelist = admin_client.get(reverse("admin:agents_agentrun_changelist"))
    assert cell in changelist.content.decode()
    filtered = admin_client.get(
        reverse("admin:agents_agentrun_changelist"), {"executor__exact": "codex"}
    )
    assert cell not in filtered.content.decode()
    change = admin_client.get(reverse("admin:agents_agentrun_change", args=[started.pk]))
    assert "Command of your own" in change.content.decode()
