"""The JSON parser every API endpoint uses: what it refuses and how it says so."""

import logging

import pytest
from rest_framework.test import APIClient

from agents.models import AgentState

pytestmark = pytest.mark.django_db

STATE = "/api/v1/projects/crewboard/agent-state/"


def post_raw(api: APIClient, body: str | bytes):
    return api.generic("POST", STATE, body, content_type="application/json")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"\\ud800"', "lone surrogates"),
        ('{"\\udc00": 1}', "lone surrogates"),
        ('["a\\u0000b"]', "NUL characters"),
    ],
)
def test_text_postgresql_cannot_store_is_a_400_that_says_which(api, project, value, problem):
    response = post_raw(api, f'{{"namespace": "n", "key": "k", "value": {value}}}')

    assert response.status_code == 400
    assert problem in response.json()["detail"]
    assert not AgentState.objects.exists()


@pytest.mark.parametrize("levels", [65, 400, 1000, 100_000])
def test_nesting_deeper_than_64_is_a_400_logged_without_a_traceback(api, project, caplog, levels):
    value = "[" * levels + "]" * levels
    with caplog.at_level(logging.INFO):
        response = post_raw(api, f'{{"namespace": "n", "key": "k", "value": {value}}}')

    assert response.status_code == 400
    assert response.json()["detail"] == "JSON may nest at most 64 levels of arrays and objects."
    assert not [record for record in caplog.records if record.exc_info]
    assert not AgentState.objects.exists()


def test_nesting_of_64_levels_is_stored(api, project):
    value = "[" * 63 + "]" * 63  # the body's object is the 64th level
    response = post_raw(api, f'{{"namespace": "n", "key": "k", "value": {value}}}')

    assert response.status_code == 201, response.json()
    assert AgentState.objects.get().value is not None


def test_a_body_over_the_limit_is_a_413_naming_it(api, project, settings):
    settings.API_JSON_MAX_BYTES = 1024
    response = post_raw(api, '{"namespace": "n", "key": "k", "value": "' + "x" * 1024 + '"}')

    assert response.status_code == 413
    assert (
        response.json()["detail"] == "A JSON body may be at most 1024 bytes (API_JSON_MAX_BYTES)."
    )
    assert not AgentState.objects.exists()


def test_a_body_that_is_not_utf8_is_a_400(api, project):
    response = post_raw(api, b'{"namespace": "n", "key": "\xff", "value": 1}')

    assert response.status_code == 400
    assert "not utf-8" in response.json()["detail"]


def test_a_surrogate_pair_is_one_character_and_is_stored(api, project):
    response = post_raw(api, '{"namespace": "n", "key": "k", "value": "\\ud83d\\ude00"}')

    assert response.status_code == 201
    assert AgentState.objects.get().value == "😀"


def test_a_charset_that_is_no_text_encoding_is_a_400(api, project):
    response = api.generic("POST", STATE, b"{}", content_type="application/json; charset=bz2_codec")

    assert response.status_code == 400
    assert "charset" in response.json()["detail"]


def test_a_charset_that_decodes_escapes_cannot_slip_a_lone_surrogate_in(api, project):
    # unicode_escape turns the six bytes \ud800 into the lone surrogate itself, so the
    # decoded text holds one with no JSON escape left to give it away.
    body = b'{"namespace": "n", "key": "k", "value": "\\ud800"}'
    response = api.generic(
        "POST", STATE, body, content_type="application/json; charset=unicode_escape"
    )

    assert response.status_code == 400
    assert "lone surrogates" in response.json()["detail"]
    assert not AgentState.objects.exists()
