"""The offline provider: deterministic replies and no network. It is the default.

What it says is up to a *responder*: a function that takes the `ChatRequest` and returns
the reply text, or an `OfflineReply` when it also asks for tool calls. For each call the
first of these answers:

1. the responder for the call's `purpose`, given to the client as
   `OfflineClient(responders={"plan_generate": fn})` or registered for every offline
   client with `register_offline_responder("plan_generate", fn)` (also a decorator; call
   it where the feature's code is imported, e.g. its AppConfig.ready);
2. the client's own `OfflineClient(responder=fn)`;
3. `echo_responder`: a short text derived from the last user message.

Tokens are counted as one per four characters of everything sent and received (tool specs
and response formats included), so metrics and tests see stable, plausible numbers.
"""

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar, overload

from agents.llm.base import ChatRequest, Completion, LLMClient, ToolCallRequest, Usage

OFFLINE_MODEL = "offline"
CHARS_PER_TOKEN = 4
_ECHO_CHARS = 160


@dataclass(frozen=True)
class OfflineReply:
    content: str | None = None
    tool_calls: tuple[ToolCallRequest, ...] = ()
    finish_reason: str = ""  # "tool_calls" when there are calls, else "stop"


Responder = Callable[[ChatRequest], OfflineReply | str]

R = TypeVar("R", bound=Responder)

_responders_by_purpose: dict[str, Responder] = {}


@overload
def register_offline_responder(purpose: str) -> Callable[[R], R]: ...
@overload
def register_offline_responder(purpose: str, responder: R) -> R: ...
def register_offline_responder(purpose: str, responder: R | None = None) -> R | Callable[[R], R]:
    """Make `responder` answer every offline call made for `purpose`. Works as a decorator."""

    def register(fn: R) -> R:
        _responders_by_purpose[purpose] = fn
        return fn

    return register(responder) if responder is not None else register


def unregister_offline_responder(purpose: str) -> None:
    _responders_by_purpose.pop(purpose, None)


def echo_responder(request: ChatRequest) -> str:
    said = " ".join(request.last_user_message.split())
    if len(said) > _ECHO_CHARS:
        said = f"{said[: _ECHO_CHARS - 1]}…"
    return f'Offline reply (no model was called) to: "{said}"' if said else "Offline reply."


def count_tokens(text: str | None) -> int:
    return math.ceil(len(text or "") / CHARS_PER_TOKEN)


class OfflineClient(LLMClient):
    provider = "offline"

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        responders: Mapping[str, Responder] | None = None,
    ) -> None:
        self.responder = responder
        self.responders = dict(responders or {})

    def _complete(self, request: ChatRequest) -> Completion:
        responder = (
            self.responders.get(request.purpose)
            or _responders_by_purpose.get(request.purpose)
            or self.responder
            or echo_responder
        )
        reply = responder(request)
        if isinstance(reply, str):
            reply = OfflineReply(content=reply)
        output_tokens = count_tokens(reply.content) + sum(
            count_tokens(call.name) + count_tokens(call.arguments_json) for call in reply.tool_calls
        )
        return Completion(
            content=reply.content,
            tool_calls=tuple(reply.tool_calls),
            finish_reason=reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop"),
            usage=Usage(input_tokens=_input_tokens(request), output_tokens=output_tokens),
            model=OFFLINE_MODEL,
        )


def _input_tokens(request: ChatRequest) -> int:
    sent = [message.to_openai() for message in request.messages]
    extras = {
        "tools": [tool.to_openai() for tool in request.tools],
        "response_format": request.response_format,
    }
    return count_tokens(json.dumps([sent, extras], sort_keys=True, ensure_ascii=False))
