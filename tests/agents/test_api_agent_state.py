"""Agent state over the API: entries by id and by key, in JSON only, per project."""

import pytest
from rest_framework.test import APIClient

from agents.models import AgentState
from tests.agents.api_paths import url
from tests.factories import AgentStateFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("format", ["multipart", "form"])
def test_the_api_takes_json_only_so_no_nul_slips_into_a_json_field(
    api: APIClient, project, format
) -> None:
    """Form data would carry a NUL past the JSON parser's check into a JSON field (a 500
    on PostgreSQL); such bodies are refused instead."""
    body = {"namespace": "n", "key": "k", "value": '"a\u0000"'}
    if format == "form":
        from urllib.parse import urlencode

        response = api.post(
            url(project, "agent-state"),
            urlencode(body),
            content_type="application/x-www-form-urlencoded",
        )
    else:
        response = api.post(url(project, "agent-state"), body, format="multipart")
    assert response.status_code == 415
    assert not AgentState.objects.exists()


def test_agent_state_crud_by_id(api: APIClient, project) -> None:
    created = api.post(
        url(project, "agent-state"), {"namespace": "planner", "key": "cursor", "value": [1, 2]}
    )
    assert created.status_code == 201, created.data
    entry_url = url(project, "agent-state", created.data["id"])

    assert api.get(url(project, "agent-state")).data["results"][0]["value"] == [1, 2]
    assert api.patch(entry_url, {"value": {"at": 3}}).data["value"] == {"at": 3}
    duplicate = api.post(
        url(project, "agent-state"), {"namespace": "planner", "key": "cursor", "value": 0}
    )
    assert duplicate.status_code == 400
    assert api.delete(entry_url).status_code == 204
    assert not AgentState.objects.exists()


def test_agent_state_get_and_put_by_key(api: APIClient, project) -> None:
    entry_url = url(project, "agent-state", "planner", "last.run")

    assert api.get(entry_url).status_code == 404

    created = api.put(entry_url, {"value": {"run": 1}})
    assert created.status_code == 200, created.data
    assert (created.data["namespace"], created.data["key"]) == ("planner", "last.run")

    updated = api.put(entry_url, {"value": {"run": 2}})
    assert updated.data["id"] == created.data["id"]
    assert api.get(entry_url).data["value"] == {"run": 2}
    assert AgentState.objects.filter(project=project).count() == 1
    assert api.put(entry_url, {}).status_code == 400


def test_agent_state_by_key_does_not_see_other_projects(
    api: APIClient, project, other_project
) -> None:
    AgentStateFactory(project=other_project, namespace="planner", key="cursor")

    assert api.get(url(project, "agent-state", "planner", "cursor")).status_code == 404
    assert api.get(url(other_project, "agent-state", "planner", "cursor")).status_code == 404


def test_an_entry_created_without_a_value_holds_null(api: APIClient, project) -> None:
    response = api.post(url(project, "agent-state"), {"namespace": "n", "key": "k"})

    assert response.status_code == 201, response.data
    assert response.data["value"] is None
    assert AgentState.objects.get(namespace="n", key="k").value is None


def test_options_on_an_entry_by_key_describes_it(api: APIClient, project) -> None:
    AgentStateFactory(project=project, namespace="n", key="k", value=1)

    found = api.options(url(project, "agent-state", "n", "k"))
    missing = api.options(url(project, "agent-state", "n", "nothing"))

    assert found.status_code == 200
    assert "PUT" in found.data["actions"]
    assert missing.status_code == 200
    assert "actions" not in missing.data


def test_a_second_entry_at_a_key_is_a_400(api: APIClient, project) -> None:
    AgentStateFactory(project=project, namespace="n", key="k", value=1)

    response = api.post(url(project, "agent-state"), {"namespace": "n", "key": "k", "value": 2})

    assert response.status_code == 400
    assert AgentState.objects.get(namespace="n", key="k").value == 1
