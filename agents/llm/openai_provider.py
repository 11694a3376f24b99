"""Any OpenAI-compatible endpoint (OpenAI, OpenRouter, vLLM, Ollama, llama.cpp, LiteLLM).

Retries are the SDK's: 408, 409, 429 and 5xx replies, timeouts and connection errors are
retried up to `max_retries` times with exponential backoff and jitter, honouring
`Retry-After` / `retry-after-ms`. What still fails after that becomes an LLMError.

Compatible servers differ in what they fill in, so the reply is read defensively: no
`usage`, no `prompt_tokens_details`, no tool call id or arguments sent as an object are
all accepted.
"""

import json
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from agents.llm.base import ChatRequest, Completion, LLMClient, LLMError, ToolCallRequest, Usage

OPENAI_BASE_URL = "https://api.openai.com/v1"
# OpenAI-compatible local servers ignore the key, but the SDK refuses to start without one.
UNUSED_API_KEY = "unused"
_SNIPPET_CHARS = 200
# What the SDK retries (see BaseClient._should_retry); other statuses fail at once.
RETRIED_STATUSES = frozenset({408, 409, 429, *range(500, 600)})


class OpenAIClient(LLMClient):
    provider = "openai"

    def __init__(
        self,
        *,
        base_url: str = "",
        api_key: str = "",
        timeout_s: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        self.base_url = base_url or OPENAI_BASE_URL
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._sdk = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or UNUSED_API_KEY,
            timeout=timeout_s,
            max_retries=max_retries,
        )

    def _complete(self, request: ChatRequest) -> Completion:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": [message.to_openai() for message in request.messages],
            "temperature": request.temperature,
        }
        # `max_tokens` rather than `max_completion_tokens`: older compatible servers only
        # know the former, and OpenAI still accepts it for chat models.
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if request.tools:
            kwargs["tools"] = [tool.to_openai() for tool in request.tools]
        if request.response_format is not None:
            kwargs["response_format"] = dict(request.response_format)
        try:
            # The SDK's own post, not chat.completions.create: that one first walks the
            # whole body through its pure-Python type transform, several milliseconds for
            # an agent conversation of twenty messages. The body here is plain JSON
            # already; retries, timeouts and errors are the same.
            reply = self._sdk.post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
        except openai.APITimeoutError:
            raise self._error(
                f"timed out after {self.timeout_s:g} s", kind="timeout", model=request.model
            ) from None
        except openai.APIConnectionError as exc:
            raise self._error(
                f"could not connect ({exc.message})", kind="connection", model=request.model
            ) from None
        except openai.APIStatusError as exc:
            raise self._error(
                f"HTTP {exc.status_code}: {_server_message(exc)}",
                kind="status",
                model=request.model,
                status_code=exc.status_code,
            ) from None
        except (openai.APIError, ValueError) as exc:
            # The SDK lets a body that is not JSON escape as a JSONDecodeError.
            raise self._error(
                f"sent a reply that could not be read as JSON ({exc})",
                kind="malformed",
                model=request.model,
            ) from None
        return self._read(reply, request)

    def _read(self, reply: object, request: ChatRequest) -> Completion:
        # Served with a non-JSON content type, the body comes back as a plain string.
        if not isinstance(reply, ChatCompletion):
            raise self._error(
                f"sent a reply that is not a chat completion: {_snippet(reply)}",
                kind="malformed",
                model=request.model,
            )
        if not reply.choices:
            raise self._error(
                f"sent a completion without choices: {_body(reply)}",
                kind="malformed",
                model=request.model,
            )
        try:
            choice = reply.choices[0]
            message = choice.message
            return Completion(
                content=getattr(message, "content", None),
                tool_calls=tuple(_tool_calls(message)),
                finish_reason=choice.finish_reason or "",
                usage=_usage(reply),
                model=reply.model or request.model,
            )
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            # The SDK builds its models without validation, so odd shapes surface here.
            raise self._error(
                f"sent a completion of an unexpected shape ({exc}): {_body(reply)}",
                kind="malformed",
                model=request.model,
            ) from None

    def _error(
        self, what: str, *, kind: str, model: str, status_code: int | None = None
    ) -> LLMError:
        retried = kind in ("timeout", "connection") or status_code in RETRIED_STATUSES
        retries = f" after {self.max_retries} retries" if retried and self.max_retries else ""
        return LLMError(
            f"LLM call to model {model!r} at {self.base_url} failed{retries}: {what}",
            kind=kind,
            provider=self.provider,
            model=model,
            status_code=status_code,
        )


def _tool_calls(message: Any) -> list[ToolCallRequest]:
    calls = []
    for index, call in enumerate(getattr(message, "tool_calls", None) or ()):
        function = getattr(call, "function", None)
        if function is None:  # a non-function ("custom") tool call; none are offered
            continue
        arguments = function.arguments
        if not isinstance(arguments, str):
            # Some servers send the arguments as an object instead of a JSON string.
            arguments = json.dumps(arguments if arguments is not None else {})
        calls.append(
            ToolCallRequest(
                id=call.id or f"call_{index}", name=function.name or "", arguments_json=arguments
            )
        )
    return calls


def _usage(reply: ChatCompletion) -> Usage:
    usage = reply.usage
    if usage is None:
        return Usage(reported=False)
    details = getattr(usage, "prompt_tokens_details", None)
    input_tokens = usage.prompt_tokens or 0
    cached = (getattr(details, "cached_tokens", None) or 0) if details is not None else 0
    return Usage(
        input_tokens=input_tokens,
        output_tokens=usage.completion_tokens or 0,
        cached_input_tokens=min(cached, input_tokens),
    )


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return _snippet(body if body is not None else exc.message)


def _body(reply: ChatCompletion) -> str:
    # As the server sent it: unset fields left out, odd types not warned about.
    return _snippet(reply.to_json(indent=None, warnings=False))


def _snippet(value: object) -> str:
    text = str(value)
    return text if len(text) <= _SNIPPET_CHARS else f"{text[:_SNIPPET_CHARS]}…"
