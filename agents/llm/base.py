"""The provider-independent LLM interface: messages, tools, completions and usage.

Messages, tool specs and tool calls use the OpenAI chat-completions shapes, which every
OpenAI-compatible server (vLLM, Ollama, llama.cpp, LiteLLM) also speaks, so a run's
conversation can be stored as `[m.to_openai() for m in messages]` and read back with
`ChatMessage.from_openai`.
"""

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from django.conf import settings


class LLMError(Exception):
    """An LLM call that failed for good, after the provider's own retries.

    `kind` says what happened: "status" (the server answered with an error status),
    "timeout", "connection" or "malformed" (the reply could not be read as a completion).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        provider: str,
        model: str,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.provider = provider
        self.model = model
        self.status_code = status_code


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call; `parameters` is its arguments' JSON schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    strict: bool = False

    def to_openai(self) -> dict[str, Any]:
        function: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
        }
        # Only sent when asked for: not every compatible server accepts the field.
        if self.strict:
            function["strict"] = True
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class ToolCallRequest:
    """A call the model asked for. The arguments stay raw JSON: the model may get them wrong."""

    id: str
    name: str
    arguments_json: str

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_json},
        }


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant" | "tool"
    content: str | None = None
    tool_calls: tuple[ToolCallRequest, ...] = ()
    tool_call_id: str | None = None

    @classmethod
    def system(cls, content: str) -> "ChatMessage":
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> "ChatMessage":
        return cls(role="user", content=content)

    @classmethod
    def assistant(
        cls, content: str | None = None, tool_calls: Sequence[ToolCallRequest] = ()
    ) -> "ChatMessage":
        return cls(role="assistant", content=content, tool_calls=tuple(tool_calls))

    @classmethod
    def tool(cls, tool_call_id: str, content: str) -> "ChatMessage":
        """The result (or error) of a tool call, sent back to the model."""
        return cls(role="tool", content=content, tool_call_id=tool_call_id)

    def to_openai(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [call.to_openai() for call in self.tool_calls]
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        return message

    @classmethod
    def from_openai(cls, data: Mapping[str, Any]) -> "ChatMessage":
        calls = tuple(
            ToolCallRequest(
                id=call["id"],
                name=call["function"]["name"],
                arguments_json=call["function"]["arguments"],
            )
            for call in data.get("tool_calls") or ()
        )
        return cls(
            role=data["role"],
            content=data.get("content"),
            tool_calls=calls,
            tool_call_id=data.get("tool_call_id"),
        )


@dataclass(frozen=True)
class Usage:
    """Token counts of one call.

    `cached_input_tokens` is the part of `input_tokens` served from the provider's prompt
    cache (OpenTelemetry GenAI conventions), never an addition to it. `reported` is False
    when the server sent no usage, so the zeros are unknowns rather than measurements.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reported: bool = True

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Completion:
    """The model's reply, with what the call cost: tokens, latency, and who answered
    (the provider, and the model as it named itself)."""

    content: str | None
    tool_calls: tuple[ToolCallRequest, ...]
    finish_reason: str
    usage: Usage
    model: str
    latency_ms: float = 0.0
    provider: str = ""

    def as_message(self) -> ChatMessage:
        """The assistant message to append to the conversation before the tool results."""
        return ChatMessage.assistant(self.content, self.tool_calls)


@dataclass(frozen=True)
class ChatRequest:
    """A call with every default filled in, as a provider receives it."""

    messages: tuple[ChatMessage, ...]
    model: str
    tools: tuple[ToolSpec, ...] = ()
    response_format: Mapping[str, Any] | None = None
    temperature: float = 0.0
    max_tokens: int | None = None
    purpose: str = ""

    @property
    def last_user_message(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user" and message.content:
                return message.content
        return ""


def json_schema_format(
    name: str, schema: Mapping[str, Any], *, strict: bool = True
) -> dict[str, Any]:
    """A `response_format` asking for JSON that matches `schema` (structured outputs)."""
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": dict(schema), "strict": strict},
    }


class LLMClient(ABC):
    """One interface over every provider. Subclasses implement `_complete`."""

    provider: ClassVar[str]

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        tools: Sequence[ToolSpec] | None = None,
        response_format: Mapping[str, Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        purpose: str = "",
    ) -> Completion:
        """Ask the model for the next message.

        `response_format` is passed as OpenAI defines it; build a JSON-schema one with
        `json_schema_format`. `purpose` says what the call is for (the offline provider
        answers by it). The completion says what the call cost; recording that is the
        caller's business. Raises LLMError when the call fails after retries.
        """
        request = ChatRequest(
            messages=tuple(messages),
            model=model or settings.LLM_PLANNING_MODEL,
            tools=tuple(tools or ()),
            response_format=response_format,
            temperature=settings.LLM_TEMPERATURE if temperature is None else temperature,
            max_tokens=settings.LLM_MAX_TOKENS if max_tokens is None else max_tokens,
            purpose=purpose,
        )
        started = time.perf_counter()
        completion = self._complete(request)
        return replace(
            completion,
            latency_ms=(time.perf_counter() - started) * 1000,
            provider=self.provider,
        )

    @abstractmethod
    def _complete(self, request: ChatRequest) -> Completion:
        """Make the call. Raise LLMError on failure; latency is measured by the caller."""
