"""Live project pages: the project header on every page asks for the project's status and
what agents are doing while work goes on, with the plan's change stamp as its ETag; the
board and the plan page's summary and open rows follow it. An unchanged poll answers 304
after two queries."""

import json
import re

import pytest
from django.urls import reverse

from planning import services
from planning.models import Project, Task
from tests.factories import AgentFactory, AgentRunFactory, ProjectFactory, TaskFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def live_url(project: Project) -> str:
    return reverse("planning:project-live", args=[project.slug])


def board_url(project: Project) -> str:
    return reverse("planning:project-board", args=[project.slug])


def detail_url(project: Project) -> str:
    return reverse("planning:project-detail", args=[project.slug])


def header(html: str) -> str:
    return re.search(r'<span id="project-live".*?</span>\s*</span>', html, re.S).group(0)


def test_every_project_page_loads_its_live_header_after_the_page(browser, project):
    for url in (
        detail_url(project),
        board_url(project),
        reverse("planning:project-settings", args=[project.slug]),
        reverse("agents:agent-list", args=[project.slug]),
    ):
        live = header(browser.get(url).content.decode())
        assert f'hx-get="{live_url(project)}"' in live, url
        assert 'hx-trigger="load, plan-changed from:body"' in live, url
        assert "data-live" in live


def test_the_header_polls_while_a_task_is_in_progress_and_stops_after(browser, project):
    task = TaskFactory(project=project, key="T1")

    quiet = browser.get(live_url(project), **HTMX).content.decode()
    assert 'hx-trigger="plan-changed from:body"' in quiet
    assert "every" not in quiet

    services.task_set_status(task=task, status=Task.Status.IN_PROGRESS)
    live = browser.get(live_url(project), **HTMX).content.decode()
    assert 'hx-trigger="plan-changed from:body, every 5s"' in live
    assert '<span class="project-coding">1 in progress</span>' in live

    services.task_set_status(task=task, status=Task.Status.DONE)
    answer = browser.get(live_url(project), **HTMX).content.decode()
    assert "every" not in answer
    assert 'class="badge badge--completed"' in answer


def test_an_active_project_keeps_polling_with_nothing_in_progress(browser, project):
    services.project_update(project=project, data={"status": Project.Status.ACTIVE})

    assert "every 5s" in browser.get(live_url(project), **HTMX).content.decode()


def test_the_header_says_what_is_coded_verified_and_reviewed(browser, project):
    coding = TaskFactory(project=project, key="C", status="in_progress")
    checked = TaskFactory(project=project, key="V", status="in_progress")
    TaskFactory(project=project, key="R", status="review")
    agent = AgentFactory(project=project)
    AgentRunFactory(agent=agent, task=coding, status="running", stage="coding")
    AgentRunFactory(agent=agent, task=checked, status="running", stage="verifying")

    html = browser.get(live_url(project), **HTMX).content.decode()

    assert '<span class="project-coding">1 in progress</span>' in html
    assert '<span class="project-verifying">1 verifying</span>' in html
    assert '<span class="project-review">1 in review</span>' in html


def test_an_unchanged_poll_answers_304_after_two_queries(
    browser, project, django_assert_max_num_queries
):
    """The session comes from the cache: the user, then membership and stamp at once."""
    TaskFactory(project=project, key="T1", status="in_progress")
    for url in (live_url(project), board_url(project), detail_url(project)):
        etag = browser.get(url, **HTMX).headers["ETag"]

        with django_assert_max_num_queries(2):
            again = browser.get(url, HTTP_IF_NONE_MATCH=etag, **HTMX)

        assert again.status_code == 304, url
        assert again.content == b""


def test_a_change_answers_200_and_tells_the_other_live_parts(browser, project):
    task = TaskFactory(project=project, key="T1")
    first = browser.get(live_url(project), **HTMX)
    # The first load is no news: the page was rendered just now.
    assert "HX-Trigger" not in first.headers

    services.task_set_status(task=task, status=Task.Status.IN_PROGRESS)
    changed = browser.get(live_url(project), HTTP_IF_NONE_MATCH=first.headers["ETag"], **HTMX)

    assert changed.status_code == 200
    assert changed.headers["ETag"] != first.headers["ETag"]
    assert json.loads(changed.headers["HX-Trigger"]) == {"live-changed": {}}


def test_a_run_starting_its_checks_changes_the_stamp(browser, project):
    """The task is not saved when its attempt moves to verifying; the board still moves
    its card."""
    task = TaskFactory(project=project, key="T1", status="in_progress")
    run = AgentRunFactory(
        agent=AgentFactory(project=project), task=task, status="running", stage="coding"
    )
    etag = browser.get(board_url(project), **HTMX).headers["ETag"]

    type(run).objects.filter(pk=run.pk).update(stage="verifying")
    response = browser.get(board_url(project), HTTP_IF_NONE_MATCH=etag, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="board" id="board" data-live')
    verifying = re.search(r'id="column-verifying"[^>]*>(.*?)</ul>', html, re.S).group(1)
    assert 'data-key="T1"' in verifying


def test_the_board_asks_again_with_its_filters(browser, project):
    html = browser.get(board_url(project) + "?priority=high&q=x").content.decode()

    board = re.search(r'<div class="board" id="board"[^>]*>', html).group(0)
    assert f'hx-get="{board_url(project)}?priority=high&amp;q=x"' in board
    assert 'hx-trigger="plan-changed from:body, live-changed from:body"' in board
    # Each set of filters has its own ETag.
    plain = browser.get(board_url(project), **HTMX).headers["ETag"]
    filtered = browser.get(board_url(project) + "?priority=high", **HTMX).headers["ETag"]
    assert plain != filtered


def test_the_plan_summary_brings_the_open_rows_that_changed(browser, project):
    changed = TaskFactory(project=project, key="CHANGED")
    same = TaskFactory(project=project, key="SAME")
    TaskFactory(project=project, key="CLOSED")
    page = browser.get(f"{detail_url(project)}?task=CHANGED").content.decode()
    shown = re.findall(r'name="row" value="([^"]+)"', page)
    assert len(shown) == 3

    services.task_set_status(task=changed, status=Task.Status.IN_PROGRESS)
    sent = [value for value in shown if value.split("-")[0] in (str(changed.pk), str(same.pk))]
    assert len(sent) == 2
    query = "&".join(f"row={value}" for value in [*sent, "junk", ""])
    html = browser.get(f"{detail_url(project)}?{query}", **HTMX).content.decode()

    rows = re.findall(r"<template>\s*(<tr id=\"task-(\d+)\"[^>]*>)", html)
    assert [pk for _, pk in rows] == [str(changed.pk)]
    assert 'hx-swap-oob="true"' in rows[0][0]
    assert '<option value="in_progress" selected>' in html
    assert f'id="task-{same.pk}"' not in html


def test_strangers_get_404(browser):
    stranger = ProjectFactory(slug="someone-elses")

    assert browser.get(live_url(stranger), **HTMX).status_code == 404
    assert browser.get(board_url(stranger), **HTMX).status_code == 404
