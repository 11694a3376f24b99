"""The LLM layer, driven through the real `openai` SDK against a loopback fake server."""

import contextlib
import functools
import sys
import threading
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.llm import (
    ChatMessage,
    ChatRequest,
    LLMError,
    OfflineClient,
    OfflineReply,
    OpenAIClient,
    ToolCallRequest,
    ToolSpec,
    Usage,
    get_llm_client,
    json_schema_format,
    register_offline_responder,
    unregister_offline_responder,
)
from agents.llm.pricing import cost_usd
from tests.fakes import FakeOpenAIServer
from tests.fakes.openai_server import (
    completion,
    error,
    json_reply,
    malformed,
    rate_limited,
    tool_call,
    usage_body,
)

PRICES = {"fake-model": {"input": 2.0, "cached_input": 0.5, "output": 8.0}}
QUESTION = [
    ChatMessage.system("You plan software projects."),
    ChatMessage.user("What should we build first?"),
]


@pytest.fixture
def llm_settings(settings, llm_server):
    """Settings that make get_llm_client() talk to the fake server."""
    settings.LLM_PROVIDER = "openai"
    settings.LLM_BASE_URL = llm_server.base_url
    settings.LLM_API_KEY = "sk-settings"
    settings.LLM_PLANNING_MODEL = "fake-model"
    settings.LLM_PRICES = PRICES
    return settings


# Completions and usage ----------------------------------------------------------------


def test_a_completion_carries_the_reply_and_what_the_call_cost(llm_server, openai_client, settings):
    settings.LLM_PLANNING_MODEL = "fake-model"
    settings.LLM_TEMPERATURE = 0.1
    settings.LLM_MAX_TOKENS = 321
    llm_server.script(
        completion("Start with the importers.", usage=usage_body(1200, 300, cached=1000))
    )

    result = openai_client.complete(QUESTION, purpose="plan_chat")

    assert result.content == "Start with the importers."
    assert result.tool_calls == ()
    assert result.finish_reason == "stop"
    assert result.model == "fake-model"
    assert result.provider == "openai"
    assert result.usage == Usage(input_tokens=1200, output_tokens=300, cached_input_tokens=1000)
    assert result.latency_ms > 0
    sent = llm_server.requests[0].json
    assert sent["model"] == "fake-model"
    assert sent["temperature"] == 0.1
    assert sent["max_tokens"] == 321
    assert sent["messages"] == [
        {"role": "system", "content": "You plan software projects."},
        {"role": "user", "content": "What should we build first?"},
    ]
    assert "tools" not in sent
    assert "response_format" not in sent


@pytest.mark.django_db
def test_a_completion_writes_nothing_to_the_database(llm_server, openai_client):
    """The LLM layer is a leaf: recording usage is its callers' business."""
    llm_server.script(completion("ok", usage=usage_body(10, 2)))
    with CaptureQueriesContext(connection) as queries:
        result = openai_client.complete(QUESTION, purpose="plan_chat")
        OfflineClient().complete(QUESTION, purpose="plan_chat")
    assert result.usage.input_tokens == 10
    assert queries.captured_queries == []


def test_a_responder_answers_what_the_script_does_not():
    def echo_last_message(request):
        return completion(f"you said: {request.json['messages'][-1]['content']}")

    with FakeOpenAIServer(responder=echo_last_message) as server:
        server.script(completion("scripted first"))
        client = OpenAIClient(base_url=server.base_url, api_key="test", max_retries=0)
        assert client.complete(QUESTION).content == "scripted first"
        assert client.complete(QUESTION).content == "you said: What should we build first?"


def test_dated_snapshots_are_priced_by_their_base_model(settings):
    settings.LLM_PRICES = {
        "gpt-4o": {"input": 2.5, "output": 10.0},
        "gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6},
    }
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cached_input_tokens=0)

    assert cost_usd("gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.75)
    assert cost_usd("gpt-4o-2024-08-06", usage) == pytest.approx(12.5)
    assert cost_usd("gpt-4", usage) is None
    # Without a cached price, cached tokens cost what other input costs.
    cached = Usage(input_tokens=1_000_000, output_tokens=0, cached_input_tokens=1_000_000)
    assert cost_usd("gpt-4o", cached) == pytest.approx(2.5)


def test_a_reply_without_usage_is_marked_unreported(llm_server, openai_client):
    llm_server.script(completion("No usage from this server.", usage=None))

    result = openai_client.complete(QUESTION)

    assert result.content == "No usage from this server."
    assert result.usage == Usage(reported=False)
    assert result.latency_ms > 0


def test_usage_without_prompt_token_details_has_no_cached_tokens(llm_server, openai_client):
    llm_server.script(completion("ok", usage={"prompt_tokens": 7, "completion_tokens": 3}))

    result = openai_client.complete(QUESTION)

    assert result.usage == Usage(input_tokens=7, output_tokens=3, cached_input_tokens=0)


# Tools and structured output ----------------------------------------------------------

UPDATE_STATUS = ToolSpec(
    name="update_task_status",
    description="Set a task's status.",
    parameters={
        "type": "object",
        "properties": {"key": {"type": "string"}, "status": {"type": "string"}},
        "required": ["key", "status"],
    },
)


def test_a_tool_call_reply_is_parsed_and_the_results_go_back_in_the_next_turn(
    llm_server, openai_client
):
    llm_server.script(
        completion(
            None,
            tool_calls=[
                tool_call("call_1", "update_task_status", {"key": "01-01-T1", "status": "done"}),
                # Broken arguments stay raw, for the runtime to hand back as a tool error.
                tool_call("call_2", "update_task_status", '{"key": "01-01-T2"'),
            ],
        ),
        completion("Both tasks handled."),
    )
    ask = [ChatMessage.user("Mark T1 done.")]

    first = openai_client.complete(ask, tools=[UPDATE_STATUS])

    assert first.content is None
    assert first.finish_reason == "tool_calls"
    assert first.tool_calls == (
        ToolCallRequest("call_1", "update_task_status", '{"key": "01-01-T1", "status": "done"}'),
        ToolCallRequest("call_2", "update_task_status", '{"key": "01-01-T2"'),
    )
    assert llm_server.requests[0].json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "update_task_status",
                "description": "Set a task's status.",
                "parameters": UPDATE_STATUS.parameters,
            },
        }
    ]

    second = openai_client.complete(
        [
            *ask,
            first.as_message(),
            ChatMessage.tool("call_1", '{"ok": true}'),
            ChatMessage.tool("call_2", "error: arguments are not valid JSON"),
        ],
        tools=[UPDATE_STATUS],
    )

    assert second.content == "Both tasks handled."
    sent = llm_server.requests[1].json["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "update_task_status",
                    "arguments": '{"key": "01-01-T1", "status": "done"}',
                },
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "update_task_status", "arguments": '{"key": "01-01-T2"'},
            },
        ],
    }
    assert sent[2] == {"role": "tool", "content": '{"ok": true}', "tool_call_id": "call_1"}


def test_tool_calls_without_ids_or_with_object_arguments_are_accepted(llm_server, openai_client):
    # What some local servers send: no call id, and the arguments as an object.
    llm_server.script(
        completion(
            None,
            tool_calls=[
                {"type": "function", "function": {"name": "get_task", "arguments": {"key": "T1"}}}
            ],
        )
    )

    result = openai_client.complete(QUESTION, tools=[UPDATE_STATUS])

    assert result.tool_calls == (ToolCallRequest("call_0", "get_task", '{"key": "T1"}'),)


def test_conversation_messages_survive_a_round_trip_through_json():
    messages = [
        ChatMessage.system("s"),
        ChatMessage.user("u"),
        ChatMessage.assistant(None, [ToolCallRequest("c1", "get_task", "{}")]),
        ChatMessage.tool("c1", '{"key": "T1"}'),
    ]

    assert [ChatMessage.from_openai(m.to_openai()) for m in messages] == messages


def test_a_json_schema_response_format_is_sent_as_given(llm_server, openai_client):
    schema = {
        "type": "object",
        "properties": {"features": {"type": "array", "items": {"type": "string"}}},
        "required": ["features"],
        "additionalProperties": False,
    }
    llm_server.script(completion('{"features": ["Importers"]}'))

    result = openai_client.complete(
        QUESTION, response_format=json_schema_format("dev_plan", schema)
    )

    assert result.content == '{"features": ["Importers"]}'
    assert llm_server.requests[0].json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "dev_plan", "schema": schema, "strict": True},
    }


# Failures -----------------------------------------------------------------------------


def test_a_429_is_retried_and_the_call_succeeds_once(llm_server, openai_client):
    llm_server.script(
        rate_limited(retry_after_s=0.01), completion("Second time lucky.", usage=usage_body(5, 1))
    )

    result = openai_client.complete(QUESTION)

    assert result.content == "Second time lucky."
    assert len(llm_server.requests) == 2
    assert result.usage.total_tokens == 6  # the answered call's usage only


def test_repeated_500s_end_in_an_llm_error_after_the_retries(llm_server, openai_client):
    llm_server.script(*[error(500, "upstream exploded", retry_after_s=0.01)] * 3)

    with pytest.raises(LLMError) as failure:
        openai_client.complete(QUESTION)

    assert len(llm_server.requests) == 3
    assert failure.value.kind == "status"
    assert failure.value.status_code == 500
    assert failure.value.model == "gpt-4o-mini"
    message = str(failure.value)
    assert "after 2 retries" in message
    assert "HTTP 500: upstream exploded" in message
    assert llm_server.base_url in message


def test_a_client_error_is_not_retried(llm_server, openai_client):
    llm_server.script(error(401, "Incorrect API key provided"))

    with pytest.raises(LLMError, match="HTTP 401: Incorrect API key provided") as failure:
        openai_client.complete(QUESTION)

    assert len(llm_server.requests) == 1
    assert failure.value.status_code == 401
    assert "retries" not in str(failure.value)


def test_a_server_slower_than_the_timeout_gives_an_llm_error(llm_server, llm_settings):
    llm_settings.LLM_TIMEOUT_S = 0.2
    llm_settings.LLM_MAX_RETRIES = 0
    llm_server.script(completion("Too late.", delay_s=5))

    # Had the timeout not held, the late reply would have arrived and been returned.
    with pytest.raises(LLMError, match=r"timed out after 0\.2 s") as failure:
        get_llm_client().complete(QUESTION)

    assert failure.value.kind == "timeout"
    assert len(llm_server.requests) == 1


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(malformed(), id="truncated-json"),
        pytest.param(
            malformed("<html>502 Bad Gateway</html>", content_type="text/html"), id="html"
        ),
        pytest.param(json_reply({"object": "chat.completion", "choices": []}), id="no-choices"),
        pytest.param(json_reply({"choices": "none today"}), id="choices-not-a-list"),
    ],
)
def test_a_malformed_reply_gives_an_llm_error(llm_server, openai_client, reply):
    llm_server.script(reply)

    with pytest.raises(LLMError) as failure:
        openai_client.complete(QUESTION)

    assert failure.value.kind == "malformed"
    assert "failed" in str(failure.value)
    assert len(llm_server.requests) == 1


# Offline provider ---------------------------------------------------------------------


def test_the_offline_client_is_deterministic():
    ask = [ChatMessage.user("What is blocked?")]

    first = OfflineClient().complete(ask, tools=[UPDATE_STATUS])
    again = OfflineClient().complete(ask, tools=[UPDATE_STATUS])
    other = OfflineClient().complete([ChatMessage.user("What is next?")])

    assert "What is blocked?" in first.content
    assert (first.content, first.tool_calls, first.usage, first.model, first.finish_reason) == (
        again.content,
        again.tool_calls,
        again.usage,
        again.model,
        again.finish_reason,
    )
    assert first.tool_calls == ()
    assert first.finish_reason == "stop"
    assert first.model == "offline"
    assert first.usage.input_tokens > other.usage.input_tokens > 0
    assert first.usage.output_tokens > 0
    assert other.content != first.content


def test_offline_responders_answer_for_their_purpose():
    calls: list[ChatRequest] = []

    def plan(request: ChatRequest) -> OfflineReply:
        calls.append(request)
        return OfflineReply(tool_calls=(ToolCallRequest("c1", "finish", '{"summary": "ok"}'),))

    client = OfflineClient(responder=lambda request: "fallback", responders={"plan_gen": plan})
    ask = [ChatMessage.user("Plan it.")]

    planned = client.complete(ask, tools=[UPDATE_STATUS], purpose="plan_gen")
    chatted = client.complete(ask)

    assert planned.tool_calls == (ToolCallRequest("c1", "finish", '{"summary": "ok"}'),)
    assert planned.finish_reason == "tool_calls"
    assert calls[0].tools == (UPDATE_STATUS,)
    assert calls[0].purpose == "plan_gen"
    assert chatted.content == "fallback"


def test_a_registered_offline_responder_serves_every_offline_client():
    @register_offline_responder("plan_summary")
    def summary(request: ChatRequest) -> str:
        return f"{len(request.messages)} messages"

    try:
        result = OfflineClient().complete(QUESTION, purpose="plan_summary")
    finally:
        unregister_offline_responder("plan_summary")
    after = OfflineClient().complete(QUESTION, purpose="plan_summary")

    assert result.content == "2 messages"
    assert after.content != "2 messages"


def test_the_offline_client_opens_no_connection(llm_server, openai_client):
    with _watching_connections() as connections:
        OfflineClient().complete(QUESTION, tools=[UPDATE_STATUS])
    assert connections == []

    # The watch itself sees a real call.
    llm_server.script(completion("ok"))
    with _watching_connections() as connections:
        openai_client.complete(QUESTION)
    assert connections


# Choosing the provider ----------------------------------------------------------------


def test_get_llm_client_defaults_to_offline(settings):
    settings.LLM_PROVIDER = "offline"

    assert isinstance(get_llm_client(), OfflineClient)


def test_get_llm_client_rejects_an_unknown_provider(settings):
    settings.LLM_PROVIDER = "anthropic"

    with pytest.raises(ImproperlyConfigured, match="'anthropic'; expected one of: offline"):
        get_llm_client()


def test_get_llm_client_rejects_openai_without_a_key_or_url(settings):
    settings.LLM_PROVIDER = "openai"
    settings.LLM_BASE_URL = ""
    settings.LLM_API_KEY = ""

    with pytest.raises(ImproperlyConfigured, match="neither LLM_API_KEY nor LLM_BASE_URL"):
        get_llm_client()


def test_get_llm_client_configures_openai_from_settings(llm_server, llm_settings):
    llm_settings.LLM_MAX_RETRIES = 1
    llm_server.script(*[error(503, "overloaded", retry_after_s=0.01)] * 3)

    with pytest.raises(LLMError, match="after 1 retries"):
        get_llm_client().complete(QUESTION)

    assert len(llm_server.requests) == 2
    assert llm_server.requests[0].headers["authorization"] == "Bearer sk-settings"
    assert llm_server.requests[0].json["model"] == "fake-model"


def test_a_local_server_needs_no_api_key(llm_server, llm_settings):
    llm_settings.LLM_API_KEY = ""
    llm_server.script(completion("Served locally."))

    assert get_llm_client().complete(QUESTION).content == "Served locally."


# Helpers ------------------------------------------------------------------------------

_watch = threading.local()


@functools.cache
def _install_connection_hook() -> None:
    # Audit hooks cannot be removed; this one does nothing unless a test is watching.
    def hook(event: str, args: tuple) -> None:
        seen = getattr(_watch, "seen", None)
        if seen is not None and event in ("socket.connect", "socket.getaddrinfo"):
            seen.append((event, args[1] if event == "socket.connect" else args[0]))

    sys.addaudithook(hook)


@contextlib.contextmanager
def _watching_connections() -> Iterator[list]:
    """Collects the connections this thread opens (or host names it looks up)."""
    _install_connection_hook()
    _watch.seen = []
    try:
        yield _watch.seen
    finally:
        _watch.seen = None
