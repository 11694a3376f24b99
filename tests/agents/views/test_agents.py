from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db


def agents_url(slug: str) -> str:
    return reverse("agents:agent-list", args=[slug])


def test_anonymous_users_are_sent_to_login(client, project):
    response = client.get(agents_url(project.slug))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_someone_elses_agents_are_404(browser, other_project):
    AgentFactory(project=other_project, name="spy")

    assert browser.get(agents_url(other_project.slug)).status_code == 404


def test_agent_list_shows_what_each_agent_is_doing(browser, project, other_project):
    task = TaskFactory(project=project, key="01-02-T1", name="Wire the queue")
    AgentFactory(
        project=project,
        name="coder-a",
        type=Agent.Type.CODER,
        status=Agent.Status.BUSY,
        current_task=task,
        model="gpt-4o-mini",
        last_activity_at=timezone.now() - timedelta(minutes=5),
    )
    AgentFactory(project=project, name="tester-b", type=Agent.Type.TESTER)
    AgentFactory(project=project, name="coder-c", last_activity_at=timezone.now())
    AgentFactory(project=other_project, name="not-mine")

    html = browser.get(agents_url(project.slug)).content.decode()

    assert "coder-a" in html and "tester-b" in html
    assert "not-mine" not in html
    assert "01-02-T1" in html and "Wire the queue" in html
    assert "gpt-4o-mini" in html
    assert '<span class="badge badge--busy">Busy</span>' in html
    assert "5\xa0minutes ago" in html
    assert ">just now</time>" in html and "0\xa0minutes" not in html
    assert "never" in html


def test_viewers_can_see_agents(client, project, viewer):
    AgentFactory(project=project, name="coder-a")
    client.force_login(viewer)

    response = client.get(agents_url(project.slug))

    assert response.status_code == 200
    assert "coder-a" in response.content.decode()


def test_agent_list_is_paginated(browser, project):
    for i in range(30):
        AgentFactory(project=project, name=f"agent-{i:02d}")

    first = browser.get(agents_url(project.slug)).content.decode()
    second = browser.get(agents_url(project.slug) + "?page=2").content.decode()

    assert ">agent-24<" in first and ">agent-25<" not in first
    assert ">agent-25<" in second and ">agent-29<" in second and ">agent-00<" not in second


@pytest.mark.parametrize("n_agents", [2, 25])
def test_agent_list_query_count_does_not_grow(
    browser, project, n_agents, django_assert_max_num_queries
):
    for i in range(n_agents):
        AgentFactory(project=project, current_task=TaskFactory(project=project, key=f"T{i}"))

    # session, user, membership, page count, page rows
    with django_assert_max_num_queries(5):
        response = browser.get(agents_url(project.slug))

    assert response.content.decode().count('<span class="key">T') == n_agents
