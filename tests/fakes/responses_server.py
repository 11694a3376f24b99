"""A loopback server speaking OpenAI's Responses API (`POST /v1/responses`, streamed as
server-sent events), which is all Codex speaks (`wire_api = "responses"`).

Each scripted reply is one model turn: the items it outputs (a message, or a function
call Codex runs) and the turn's usage. Codex calls again with the call's output appended
to `input`, and the next reply answers that:

    with FakeResponsesServer() as server:
        server.script(
            response(shell_call("printf 'hi\\n' > hello.txt", call_id="call_1")),
            response(message("Wrote hello.txt")),
        )
        home = codex_home(tmp_dir, base_url=server.base_url)
        ...run `codex exec --json ...` with CODEX_HOME=home...
        assert function_outputs(server.requests[1])["call_1"]

What Codex 0.169 offers a model it has no metadata for: `exec_command` (a shell
command, `{"cmd": ...}`) and, for edits, `apply_patch` run through that same tool, which
Codex intercepts and applies itself (its `file_change` event).
"""

import json
from pathlib import Path
from typing import Any

from tests.fakes.openai_server import FakeOpenAIServer, RecordedRequest, Reply

RESPONSES_PATH = "/v1/responses"
API_KEY_ENV = "CREWBOARD_TEST_CODEX_KEY"
API_KEY = "sk-fake-codex"


class FakeResponsesServer(FakeOpenAIServer):
    paths = (RESPONSES_PATH,)


def message(text: str, *, item_id: str = "msg_1") -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def function_call(name: str, arguments: dict[str, Any], *, call_id: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": json.dumps(arguments),
        "status": "completed",
    }


def shell_call(command: str, *, call_id: str) -> dict[str, Any]:
    """Codex's shell tool: one command line, run in the turn's working directory."""
    return function_call("exec_command", {"cmd": command}, call_id=call_id)


def apply_patch_call(patch: str, *, call_id: str) -> dict[str, Any]:
    """An edit in Codex's patch format (`*** Begin Patch` ... `*** End Patch`)."""
    return shell_call(f"apply_patch <<'PATCH'\n{patch}PATCH\n", call_id=call_id)


def _sse(events: list[dict[str, Any]]) -> bytes:
    return "".join(
        f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events
    ).encode()


def response(
    *items: dict[str, Any],
    usage: tuple[int, int, int] = (100, 20, 40),
    response_id: str = "resp_fake",
    delay_s: float = 0.0,
) -> Reply:
    """One streamed turn outputting `items`; usage is (input, output, cached input)."""
    input_tokens, output_tokens, cached = usage
    events: list[dict[str, Any]] = [
        {
            "type": "response.created",
            "response": {"id": response_id, "status": "in_progress", "output": []},
        }
    ]
    for index, item in enumerate(items):
        started = {**item, "status": "in_progress"}
        if item["type"] == "message":
            started["content"] = []
        elif item["type"] == "function_call":
            started["arguments"] = ""
        events.append(
            {"type": "response.output_item.added", "output_index": index, "item": started}
        )
        if item["type"] == "message":
            text = item["content"][0]["text"]
            events.append(
                {
                    "type": "response.output_text.delta",
                    "item_id": item["id"],
                    "output_index": index,
                    "content_index": 0,
                    "delta": text,
                }
            )
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append(
        {
            "type": "response.completed",
            "response": {
                "id": response_id,
                "status": "completed",
                "output": list(items),
                "usage": {
                    "input_tokens": input_tokens,
                    "input_tokens_details": {"cached_tokens": cached},
                    "output_tokens": output_tokens,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": input_tokens + output_tokens,
                },
            },
        }
    )
    return Reply(body=_sse(events), content_type="text/event-stream", delay_s=delay_s)


def function_outputs(request: RecordedRequest) -> dict[str, str]:
    """The outputs of earlier calls that Codex sent back in a request, by call id."""
    return {
        item["call_id"]: item["output"]
        for item in request.json.get("input", [])
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    }


def user_text(request: RecordedRequest) -> str:
    """Everything the user said in a request (the prompt, and Codex's context)."""
    return "\n".join(
        part.get("text", "")
        for item in request.json.get("input", [])
        if isinstance(item, dict) and item.get("role") == "user"
        for part in item.get("content", [])
    )


def codex_home(directory: Path, *, base_url: str, model: str = "fake-model") -> Path:
    """A CODEX_HOME whose config points Codex at `base_url` with the Responses API.

    It must not be under the system's temporary folder: Codex refuses to set up its
    sandbox helper there.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "crewboard_fake"\n'
        "\n"
        "[model_providers.crewboard_fake]\n"
        'name = "Crewboard fake"\n'
        f'base_url = "{base_url}"\n'
        'wire_api = "responses"\n'
        f'env_key = "{API_KEY_ENV}"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    return directory
