"""What every agent page lets each kind of user do, and the CSP every agent page keeps."""

import re

import pytest
from django.urls import reverse

from agents.models import AgentRun, Checkpoint, DecisionLog
from planning.models import Project, Task
from tests.agents.views.pages import HTMX, url
from tests.agents.views.run_records import build_run
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(project) -> AgentRun:
    return build_run(project, steps=1, status="failed", error="model unreachable")


def page_urls(project: Project, run: AgentRun) -> list[str]:
    return [
        url("agent-list", project),
        url("run-list", project),
        url("run-detail", project, run.pk),
        url("activity", project),
        url("metrics", project),
        url("inbox", project),
        url("inbox-count", project),
        url("tool-calls", project),
    ]


def post_urls(project: Project, run: AgentRun, task: Task) -> list[str]:
    return [
        url("project-run-start", project),
        url("project-run-pause", project),
        url("project-run-cancel", project),
        url("run-cancel", project, run.pk),
        url("run-retry", project, run.pk),
        url("inbox-answer", project, task.pk),
    ]


def test_anonymous_users_are_sent_to_login(client, project, run, checkpoint_task):
    responses = [client.get(path) for path in page_urls(project, run)] + [
        client.post(path) for path in post_urls(project, run, checkpoint_task)
    ]

    for response in responses:
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert AgentRun.objects.get(pk=run.pk).status == "failed"


def test_members_see_every_page(browser, project, run):
    for path in page_urls(project, run):
        assert browser.get(path).status_code == 200, path


def test_viewers_see_every_page_without_buttons(client, project, viewer, run, checkpoint_task):
    client.force_login(viewer)
    for path in page_urls(project, run):
        response = client.get(path)
        assert response.status_code == 200, path
        main = response.content.decode().split('<main class="page">')[-1]
        # The tool-call search form changes nothing.
        main = re.sub(r'<form id="tool-call-filters".*?</form>', "", main, flags=re.S)
        assert "<button" not in main and "<form" not in main, path


def test_non_members_get_404_everywhere(browser, other_project):
    theirs = build_run(other_project, steps=1, status="failed")
    task = TaskFactory(project=other_project, type=Task.Type.HUMAN_VERIFY)

    for path in page_urls(other_project, theirs):
        assert browser.get(path).status_code == 404, path
    for path in post_urls(other_project, theirs, task):
        assert browser.post(path).status_code == 404, path
    assert AgentRun.objects.get(pk=theirs.pk).status == "failed"
    assert not DecisionLog.objects.filter(task_id=task.pk).exists()


def test_someone_elses_run_under_my_project_is_404(browser, project, other_project):
    theirs = build_run(other_project, steps=1, status="running")

    assert browser.get(url("run-detail", project, theirs.pk)).status_code == 404
    assert browser.post(url("run-cancel", project, theirs.pk)).status_code == 404
    assert AgentRun.objects.get(pk=theirs.pk).status == "running"


def test_viewers_get_403_on_every_post(
    client, project, viewer, run, checkpoint_task, django_capture_on_commit_callbacks
):
    AgentFactory(project=project, name="coder-x")
    client.force_login(viewer)

    with django_capture_on_commit_callbacks() as callbacks:
        for path in post_urls(project, run, checkpoint_task):
            assert client.post(path, {"verdict": "approve"}).status_code == 403, path
            assert client.post(path, {"verdict": "approve"}, **HTMX).status_code == 403, path

    assert callbacks == []
    project.refresh_from_db()
    assert project.status == Project.Status.PLANNING
    assert AgentRun.objects.get(pk=run.pk).status == "failed"
    assert AgentRun.objects.count() == 1
    assert Task.objects.get(pk=checkpoint_task.pk).status == "pending"
    assert not DecisionLog.objects.filter(task_id=checkpoint_task.pk).exists()
    assert not Checkpoint.objects.exists()


def test_pages_need_no_inline_script_or_style(
    browser, project, checkpoint_task, decision_task, later_task, usage
):
    run = build_run(project, steps=2, status="running")
    pages = [
        url("agent-list", project),
        url("run-list", project),
        url("run-detail", project, run.pk),
        url("activity", project),
        url("metrics", project),
        url("inbox", project),
        url("tool-calls", project),
        reverse("agents:agent-key", args=[project.slug, AgentFactory(project=project).pk]),
        # An ended run: its waterfall is drawn.
        url("run-detail", project, build_run(project, steps=2).pk),
    ]
    fragments = [
        url("agent-list", project),
        url("run-list", project),
        url("run-detail", project, run.pk) + "?after=1",
        url("activity", project),
        url("inbox", project),
        url("inbox-count", project),
    ]
    responses = [browser.get(p) for p in pages] + [browser.get(p, **HTMX) for p in fragments]
    external = AgentFactory(project=project, type="external")
    responses.append(browser.post(reverse("agents:agent-key", args=[project.slug, external.pk])))
    for response in responses:
        html = response.content.decode()
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
        assert "style=" not in html and "<style" not in html
        assert "hx-on" not in html and "javascript:" not in html
