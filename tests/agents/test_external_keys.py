"""External agents' keys: issued once, stored as a hash, revoked, and scoped to a project."""

import hashlib

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from agents import services
from agents.models import Agent, AgentRun, DecisionLog
from core.errors import ConflictError
from planning.models import Task
from tests.agents.external_agents import agent_client, claim, external_agent, url
from tests.factories import AgentFactory, AgentRunFactory, MembershipFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(project) -> tuple[Agent, APIClient]:
    return external_agent(project)


def test_a_key_is_shown_once_and_only_its_hash_is_stored(api: APIClient, project) -> None:
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)

    issued = api.post(url(project, f"agents/{agent.pk}/key/"))

    assert issued.status_code == 201, issued.data
    key = issued.data["key"]
    assert key.startswith("cbk_") and len(key) > 40
    agent.refresh_from_db()
    assert agent.api_key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert agent.api_key_prefix == issued.data["prefix"] == key[:12]
    detail = api.get(url(project, f"agents/{agent.pk}/"))
    assert key not in str(detail.content)
    assert agent_client(key).post(url(project, "agents/heartbeat/")).status_code == 200


def test_issuing_a_new_key_replaces_the_old_one(api: APIClient, project) -> None:
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    old = api.post(url(project, f"agents/{agent.pk}/key/")).data["key"]

    new = api.post(url(project, f"agents/{agent.pk}/key/")).data["key"]

    assert new != old
    assert agent_client(old).post(url(project, "agents/heartbeat/")).status_code == 401
    assert agent_client(new).post(url(project, "agents/heartbeat/")).status_code == 200


def test_a_revoked_key_stops_working(api: APIClient, project, worker) -> None:
    agent, client = worker

    assert api.delete(url(project, f"agents/{agent.pk}/key/")).status_code == 204

    assert client.post(url(project, "agents/heartbeat/")).status_code == 401


def test_only_owners_and_editors_issue_keys(
    api: APIClient, viewer_api: APIClient, project, other_project
) -> None:
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    foreign = AgentFactory(project=other_project, type=Agent.Type.EXTERNAL)
    editor = APIClient()
    editor.force_authenticate(MembershipFactory(project=project, role="editor").user)

    assert viewer_api.post(url(project, f"agents/{agent.pk}/key/")).status_code == 403
    assert api.post(url(other_project, f"agents/{foreign.pk}/key/")).status_code == 404
    assert api.post(url(project, f"agents/{foreign.pk}/key/")).status_code == 404
    assert editor.post(url(project, f"agents/{agent.pk}/key/")).status_code == 201
    agent.refresh_from_db()
    foreign.refresh_from_db()
    assert foreign.api_key_hash == ""


def test_built_in_agents_get_no_key(api: APIClient, project) -> None:
    coder = AgentFactory(project=project, type=Agent.Type.CODER)

    response = api.post(url(project, f"agents/{coder.pk}/key/"))

    assert response.status_code == 400
    coder.refresh_from_db()
    assert coder.api_key_hash == ""


def test_wrong_missing_or_terminated_keys_are_refused(project, worker) -> None:
    TaskFactory(project=project)
    agent, client = worker

    assert claim(agent_client("cbk_not-a-key"), project).status_code == 401
    assert claim(APIClient(), project).status_code == 401
    malformed = APIClient()
    malformed.credentials(HTTP_AUTHORIZATION="Agent")
    assert claim(malformed, project).status_code == 401
    # A person's session is not an agent key.
    person = APIClient()
    person.force_login(project.owner)
    assert claim(person, project).status_code == 401
    services.agent_terminate(agent=agent, reason="done")
    assert claim(client, project).status_code == 403
    assert not AgentRun.objects.exists()


def test_an_agent_key_opens_only_its_own_project(project, other_project, worker) -> None:
    TaskFactory(project=other_project)
    foreign_run = AgentRunFactory(agent=AgentFactory(project=other_project))
    _, client = worker

    assert claim(client, other_project).status_code == 404
    assert client.post(url(other_project, "agents/heartbeat/")).status_code == 404
    reported = client.post(
        url(project, f"runs/{foreign_run.pk}/decisions/"), {"decision": "x"}, format="json"
    )
    assert reported.status_code == 404
    assert not AgentRun.objects.filter(project=other_project).exclude(pk=foreign_run.pk).exists()
    assert not DecisionLog.objects.exists()


def test_a_persons_token_is_not_an_agent_key(project) -> None:
    TaskFactory(project=project)
    token = Token.objects.create(user=project.owner)
    person = APIClient()
    person.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert claim(person, project).status_code == 401
    assert Task.objects.get().status == "pending"


def test_an_issued_key_stays_out_of_its_repr(project) -> None:
    agent, _ = external_agent(project, "quiet")
    issued = services.agent_key_issue(agent=agent)
    assert issued.key not in repr(issued)


@pytest.mark.parametrize("change", ["issue", "revoke"])
def test_a_key_change_for_an_agent_deleted_meanwhile_is_a_conflict(project, change) -> None:
    stale = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    Agent.objects.filter(pk=stale.pk).delete()

    with pytest.raises(ConflictError, match="has been deleted"):
        (services.agent_key_issue if change == "issue" else services.agent_key_revoke)(agent=stale)
