"""The agents page: each agent's live status, adding agents and their keys."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agents import services
from agents.models import Agent
from planning.models import Project
from tests.agents.views.pages import HTMX, POLLING, messages_of, url
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


# Live status -----------------------------------------------------------------------------


def test_agent_status_polls_while_the_project_runs(browser, project):
    AgentFactory(project=project, name="coder-a")

    idle = browser.get(url("agent-list", project)).content.decode()
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ACTIVE)
    running = browser.get(url("agent-list", project)).content.decode()

    assert POLLING not in re.search(r'<section id="agent-status".*?>', idle, re.S).group(0)
    assert POLLING in re.search(r'<section id="agent-status".*?>', running, re.S).group(0)


def test_agent_status_polls_while_an_agent_is_busy(browser, project):
    task = TaskFactory(project=project, key="T7", name="Wire it")
    AgentFactory(
        project=project,
        name="coder-a",
        status=Agent.Status.BUSY,
        current_task=task,
        last_activity_at=timezone.now() - timedelta(seconds=90),
    )

    response = browser.get(url("agent-list", project), **HTMX)

    html = response.content.decode()
    assert "<html" not in html and 'id="run-controls"' not in html
    assert html.lstrip().startswith('<section id="agent-status"')
    assert POLLING in html
    assert f'hx-get="{url("agent-list", project)}"' in html
    assert '<span class="badge badge--busy">Busy</span>' in html
    assert "T7" in html and "Wire it" in html
    assert "1\xa0minute ago" in html


def test_the_polled_status_keeps_its_page(browser, project):
    for i in range(30):
        AgentFactory(project=project, name=f"agent-{i:02d}", status=Agent.Status.BUSY)

    html = browser.get(url("agent-list", project) + "?page=2", **HTMX).content.decode()

    assert f'hx-get="{url("agent-list", project)}?page=2"' in html
    assert "agent-25" in html and "agent-00" not in html


def test_status_stops_polling_when_nothing_runs(browser, project):
    AgentFactory(project=project, status=Agent.Status.IDLE)
    Project.objects.filter(pk=project.pk).update(status=Project.Status.PAUSED)

    html = browser.get(url("agent-list", project), **HTMX).content.decode()

    assert "hx-trigger" not in html and "hx-get" not in html


# Adding agents and their keys ------------------------------------------------------------


def test_add_agent_from_the_agents_page(browser, project):
    url = f"/agents/projects/{project.slug}/add/"
    response = browser.post(url, {"name": "coder-9", "type": "coder", "model": ""}, follow=True)
    assert "Added coder agent coder-9." in response.content.decode()
    assert Agent.objects.get(project=project, name="coder-9").type == "coder"
    response = browser.post(url, {"name": "coder-9", "type": "coder"}, follow=True)
    assert Agent.objects.filter(project=project, name="coder-9").count() == 1
    assert "messages" in response.context and list(response.context["messages"])


def _heartbeat_status(client, project: Project, key: str) -> int:
    return client.post(
        f"/api/v1/projects/{project.slug}/agents/heartbeat/",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Agent {key}",
    ).status_code


def _shown_key(response) -> str:
    html = response.content.decode()
    return re.search(r'id="agent-key-value" type="text" value="([^"]+)"', html).group(1)


def test_adding_an_external_agent_shows_its_key_once(browser, project):
    response = browser.post(
        f"/agents/projects/{project.slug}/add/", {"name": "claude-1", "type": "external"}
    )
    assert response.status_code == 200  # answered in place: the key is never stored
    assert "no-store" in response.headers["Cache-Control"]
    key = _shown_key(response)
    agent = Agent.objects.get(project=project, name="claude-1")
    assert agent.type == "external" and agent.api_key_prefix == key[:12]
    assert key not in agent.api_key_hash
    assert f"/api/v1/projects/{project.slug}/tasks/claim/" in response.content.decode()
    assert _heartbeat_status(browser, project, key) == 200

    listing = browser.get(url("agent-list", project)).content.decode()
    assert key not in listing and f"{key[:12]}…" in listing
    assert reverse("agents:agent-key", args=[project.slug, agent.pk]) in listing


def test_the_key_page_shows_mcp_set_ups_filled_in(browser, project):
    response = browser.post(
        f"/agents/projects/{project.slug}/add/", {"name": "claude-1", "type": "external"}
    )
    key = _shown_key(response)
    page = response.content.decode()
    assert (
        f"claude mcp add crewboard -e CREWBOARD_URL=http://testserver "
        f"-e CREWBOARD_AGENT_KEY={key} -- crewboard mcp"
    ) in page
    assert (
        "claude mcp add --transport http crewboard http://testserver/mcp/ "
        f'--header "Authorization: Bearer {key}"'
    ) in page
    assert f'CREWBOARD_AGENT_KEY = "{key}"' in page  # Codex
    assert page.count(f'"Authorization": "Bearer {key}"') == 2  # Cursor and VS Code
    # The tools each profile adds, from the table the servers serve.
    assert "<strong>core</strong>: claim_task, get_task, heartbeat," in page
    standard = page.split("<strong>standard</strong> adds: ", 1)[1].split("</li>", 1)[0]
    assert "expand_task" in standard.split(", ") and "claim_task" not in standard


def test_a_new_key_from_the_agents_page_replaces_the_old_one(browser, project):
    agent = AgentFactory(project=project, name="claude-2", type="external")
    old_key = services.agent_key_issue(agent=agent).key
    key_url = reverse("agents:agent-key", args=[project.slug, agent.pk])

    confirm = browser.get(key_url).content.decode()
    assert f"{old_key[:12]}…" in confirm and "stops working" in confirm
    assert _heartbeat_status(browser, project, old_key) == 200  # asking changes nothing

    new_key = _shown_key(browser.post(key_url))
    assert new_key != old_key
    assert _heartbeat_status(browser, project, old_key) == 401
    assert _heartbeat_status(browser, project, new_key) == 200


def test_keys_only_for_external_agents_of_the_writers_own_project(
    browser, client, viewer, project, other_project
):
    coder = AgentFactory(project=project, name="coder-1", type="coder")
    response = browser.post(reverse("agents:agent-key", args=[project.slug, coder.pk]), follow=True)
    assert "only external agents use keys" in " ".join(messages_of(response))
    coder.refresh_from_db()
    assert coder.api_key_hash == ""

    elsewhere = AgentFactory(project=other_project, type="external")
    foreign_url = reverse("agents:agent-key", args=[project.slug, elsewhere.pk])
    assert browser.post(foreign_url).status_code == 404
    outsider_url = reverse("agents:agent-key", args=[other_project.slug, elsewhere.pk])
    assert browser.post(outsider_url).status_code == 404

    retired = AgentFactory(
        project=project, type="external", status="terminated", terminated_at=timezone.now()
    )
    retired_url = reverse("agents:agent-key", args=[project.slug, retired.pk])
    assert "is terminated" in browser.get(retired_url).content.decode()
    assert "is terminated" in " ".join(messages_of(browser.post(retired_url, follow=True)))

    external = AgentFactory(project=project, type="external")
    client.force_login(viewer)
    assert (
        client.post(reverse("agents:agent-key", args=[project.slug, external.pk])).status_code
        == 403
    )
    external.refresh_from_db()
    assert external.api_key_hash == ""


def test_a_refused_external_agent_gets_no_key(browser, project):
    existing = AgentFactory(project=project, name="claude-1", type="external")
    response = browser.post(
        f"/agents/projects/{project.slug}/add/",
        {"name": "claude-1", "type": "external"},
        follow=True,
    )
    assert messages_of(response)  # the duplicate name, explained
    assert 'id="agent-key-value"' not in response.content.decode()
    existing.refresh_from_db()
    assert existing.api_key_hash == ""
    assert Agent.objects.filter(project=project).count() == 1


def test_viewers_cannot_add_agents(client, viewer, project):
    client.force_login(viewer)
    response = client.post(f"/agents/projects/{project.slug}/add/", {"name": "x", "type": "coder"})
    assert response.status_code == 403
    assert not Agent.objects.exists()


@pytest.mark.parametrize(("sandbox", "says"), [("none", "run unconfined"), ("auto", None)])
def test_the_agents_page_says_whether_commands_run_confined(
    browser, project, settings, tmp_path, sandbox, says
):
    from agents.workspaces.commands import sandbox_available

    settings.AGENT_SANDBOX = sandbox
    project.root_path = str(tmp_path)
    Project.objects.filter(pk=project.pk).update(root_path=str(tmp_path))
    html = browser.get(url("agent-list", project)).content.decode()
    if says is None:
        says = "run inside bubblewrap" if sandbox_available() else "run unconfined"
    assert says in html


# What writes an agent's code ----------------------------------------------------------


def executor_url(project: Project, agent: Agent) -> str:
    return reverse("agents:agent-executor", args=[project.slug, agent.pk])


def test_the_agents_page_links_each_coding_agent_to_its_executor(browser, client, viewer, project):
    coder = AgentFactory(project=project, name="coder", type=Agent.Type.CODER)
    external = AgentFactory(project=project, name="claude", type=Agent.Type.EXTERNAL)
    planner = AgentFactory(project=project, name="planner", type=Agent.Type.PLANNER)

    html = browser.get(url("agent-list", project)).content.decode()
    assert executor_url(project, coder) in html
    assert executor_url(project, external) not in html
    assert executor_url(project, planner) not in html

    client.force_login(viewer)
    as_viewer = client.get(url("agent-list", project)).content.decode()
    assert executor_url(project, coder) not in as_viewer


def test_switching_a_coder_to_a_command_of_your_own(browser, project, tmp_path):
    coder = AgentFactory(project=project, name="coder", type=Agent.Type.CODER)
    script = tmp_path / "my coder.py"
    script.write_text("print('hi')\n")

    form = browser.get(executor_url(project, coder)).content.decode()
    assert '<option value="builtin" selected>' in form
    response = browser.post(
        executor_url(project, coder),
        {
            "executor": "command",
            "executor_command": f"python3 '{script}' {{worktree}} {{prompt_file}}",
        },
        follow=True,
    )

    coder.refresh_from_db()
    assert coder.executor == "command"
    assert coder.executor_command == ["python3", str(script), "{worktree}", "{prompt_file}"]
    assert response.redirect_chain[-1][0] == url("agent-list", project)
    assert messages_of(response) == [
        f"coder now writes code with a command of your own: python3 '{script}' "
        "{worktree} {prompt_file}"
    ]
    # The form shows the command as it was typed, and saving it again keeps it.
    again = browser.get(executor_url(project, coder)).content.decode()
    assert f'value="python3 &#x27;{script}&#x27; {{worktree}} {{prompt_file}}"' in again


def test_a_command_executor_needs_its_command(browser, project):
    coder = AgentFactory(project=project, name="coder", type=Agent.Type.CODER)

    response = browser.post(
        executor_url(project, coder), {"executor": "command", "executor_command": ""}, **HTMX
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith('<form id="agent-executor-form"')
    assert "The command executor needs a command" in html
    assert '<option value="command" selected>' in html
    coder.refresh_from_db()
    assert coder.executor == "builtin" and coder.executor_command == []


def test_a_command_that_cannot_run_here_is_saved_with_a_warning(browser, project):
    coder = AgentFactory(project=project, name="coder", type=Agent.Type.CODER)

    response = browser.post(
        executor_url(project, coder),
        {"executor": "command", "executor_command": "/no/such/coder {worktree}"},
        follow=True,
    )

    [message] = list(response.context["messages"])
    assert message.level_tag == "warning"
    assert "It cannot run here yet: `/no/such/coder` is not an executable file." in str(message)
    coder.refresh_from_db()
    assert coder.executor_command == ["/no/such/coder", "{worktree}"]


def test_only_writers_change_executors_and_only_of_coding_agents(
    browser, client, viewer, project, other_project
):
    coder = AgentFactory(project=project, name="coder", type=Agent.Type.CODER)
    external = AgentFactory(project=project, name="claude", type=Agent.Type.EXTERNAL)
    retired = AgentFactory(
        project=project, status=Agent.Status.TERMINATED, terminated_at=timezone.now()
    )
    theirs = AgentFactory(project=other_project, type=Agent.Type.CODER)
    change = {"executor": "codex", "executor_command": ""}

    for agent in (external, retired, theirs):
        assert browser.get(executor_url(project, agent)).status_code == 404
        assert browser.post(executor_url(project, agent), change).status_code == 404
    client.force_login(viewer)
    assert client.post(executor_url(project, coder), change).status_code == 403
    coder.refresh_from_db()
    assert coder.executor == "builtin"
