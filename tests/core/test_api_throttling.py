"""Throttles on the API's credentials: bad tokens and agent keys from one address, and
issuing agent keys."""

import itertools
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from agents import services
from agents.models import Agent
from core.api.throttling import FAILURE_KEY
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

_addresses = itertools.count(1)


@pytest.fixture
def address() -> Iterator[str]:
    """A client address of the test's own: the counts live in the cache, beyond the test."""
    address = f"198.51.100.{next(_addresses)}"
    cache.delete(FAILURE_KEY.format(address=address))
    yield address
    cache.delete(FAILURE_KEY.format(address=address))


@pytest.fixture
def failure_limit(settings) -> int:
    settings.API_AUTH_FAILURE_LIMIT = 3
    return 3


def client_with(header: str, address: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


def test_an_invalid_token_is_a_401_naming_the_scheme(address: str) -> None:
    response = client_with("Token not-a-token", address).get("/api/v1/projects/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_an_address_sending_bad_tokens_is_refused_even_a_good_one(
    project, address: str, failure_limit: int
) -> None:
    good = Token.objects.create(user=project.owner).key
    for _ in range(failure_limit):
        assert client_with("Token wrong", address).get("/api/v1/projects/").status_code == 401

    refused = client_with(f"Token {good}", address).get("/api/v1/projects/")
    assert refused.status_code == 429
    assert "invalid credentials" in refused.data["detail"]
    assert int(refused["Retry-After"]) > 0
    # Another address, and the same one without credentials, are not affected.
    assert client_with(f"Token {good}", "192.0.2.200").get("/api/v1/projects/").status_code == 200
    assert APIClient(REMOTE_ADDR=address).get("/api/v1/projects/").status_code in (401, 403)


def test_an_address_sending_bad_agent_keys_is_refused(
    project, address: str, failure_limit: int
) -> None:
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    key = services.agent_key_issue(agent=agent).key
    heartbeat = f"/api/v1/projects/{project.slug}/agents/heartbeat/"
    assert client_with(f"Agent {key}", address).post(heartbeat).status_code == 200
    for _ in range(failure_limit):
        assert client_with("Agent cbk_wrong", address).post(heartbeat).status_code == 401

    assert client_with(f"Agent {key}", address).post(heartbeat).status_code == 429


def test_issuing_agent_keys_is_throttled_per_person(api: APIClient, project, settings) -> None:
    settings.API_AGENT_KEY_RATE = "2/hour"
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    key_url = f"/api/v1/projects/{project.slug}/agents/{agent.pk}/key/"
    throttle_key = f"throttle_agent-key_{project.owner.pk}"
    cache.delete(throttle_key)
    try:
        assert api.post(key_url).status_code == 201
        assert api.delete(key_url).status_code == 204
        refused = api.post(key_url)
        assert refused.status_code == 429
        assert not Agent.objects.get(pk=agent.pk).api_key_hash
    finally:
        cache.delete(throttle_key)
