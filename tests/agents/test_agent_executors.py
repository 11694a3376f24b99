"""An agent's executor and command: set through the services, the API, the admin and
the agents page, validated alike, and a missing CLI shown on the agents page."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from agents import services
from agents.models import Agent
from core.errors import DomainError
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def api_url(project, tail: str = "") -> str:
    return f"/api/v1/projects/{project.slug}/agents/{tail}"


def test_new_coders_use_the_projects_default_executor(project):
    project.default_executor = "codex"
    project.save()
    assert services.agent_create(project=project, name="c", type="coder").executor == "codex"
    assert services.agent_create(project=project, name="p", type="planner").executor == "builtin"
    chosen = services.agent_create(project=project, name="b", type="coder", executor="builtin")
    assert chosen.executor == "builtin"


@pytest.mark.parametrize(
    "command,message",
    [
        ([], "needs a command"),
        (["", "x"], "first part names the program"),
        ([1, 2], "must be a string"),
        ("./run.sh", "needs a command"),
    ],
)
def test_a_command_executor_needs_an_argv_of_strings(project, command, message):
    with pytest.raises(DomainError, match=message):
        services.agent_create(
            project=project, name="mine", type="coder", executor="command", executor_command=command
        )
    assert not Agent.objects.exists()


def test_api_sets_and_validates_the_executor(api: APIClient, project):
    created = api.post(
        api_url(project),
        {
            "name": "mine",
            "type": "coder",
            "executor": "command",
            "executor_command": ["./agent.sh", "{prompt_file}", "{worktree}"],
        },
        format="json",
    )
    assert created.status_code == 201, created.data
    assert created.data["executor"] == "command"
    assert created.data["executor_command"] == ["./agent.sh", "{prompt_file}", "{worktree}"]
    refused = api.patch(
        api_url(project, f"{created.data['id']}/"), {"executor_command": []}, format="json"
    )
    assert refused.status_code == 400
    assert "needs a command" in str(refused.data)
    assert Agent.objects.get(pk=created.data["id"]).executor_command[0] == "./agent.sh"
    unknown = api.post(
        api_url(project), {"name": "x", "type": "coder", "executor": "cursor"}, format="json"
    )
    assert unknown.status_code == 400 and "executor" in unknown.data


def test_agents_page_adds_a_cli_agent_and_shows_a_missing_program(
    browser, project, settings, tmp_path, monkeypatch
):
    settings.VAR_DIR = tmp_path  # no `make tools` CLIs
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    url = reverse("agents:agent-create", args=[project.slug])
    response = browser.post(
        url,
        {"name": "mine", "type": "coder", "executor": "command", "executor_command": ""},
        follow=True,
    )
    assert "The command executor needs a command" in response.content.decode()
    response = browser.post(
        url,
        {
            "name": "mine",
            "type": "coder",
            "executor": "command",
            "executor_command": "./my agent.sh '{prompt_file}'",
        },
        follow=True,
    )
    assert Agent.objects.get(name="mine").executor_command == ["./my", "agent.sh", "{prompt_file}"]
    browser.post(url, {"name": "claude-1", "type": "coder", "executor": "claude-code"})
    page = browser.get(reverse("agents:agent-list", args=[project.slug])).content.decode()
    # A setup problem on the page, not a failed run.
    assert "Claude Code" in page
    assert "`claude` not found on PATH" in page
    assert "`./my` is not an executable file" in page


def test_admin_refuses_a_command_executor_without_a_command(admin_client, project):
    agent = AgentFactory(project=project, name="mine")
    url = reverse("admin:agents_agent_change", args=[agent.pk])
    form = {
        "project": project.pk,
        "name": "mine",
        "type": "coder",
        "status": "idle",
        "executor": "command",
        "executor_command": "[]",
        "spawned_at_0": "2026-01-01",
        "spawned_at_1": "00:00:00",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "The command executor needs a command" in response.content.decode()
    response = admin_client.post(url, {**form, "executor_command": '["./agent.sh"]'})
    assert response.status_code == 302, response.content.decode()[-2000:]
    agent.refresh_from_db()
    assert (agent.executor, agent.executor_command) == ("command", ["./agent.sh"])
