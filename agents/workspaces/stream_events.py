"""The neutral events a coding CLI's output is read as, and what every CLI's parser
shares (agents/workspaces/streams.py reads each CLI's own lines).

`StreamParser` reads a line as a JSON object or as a `PlainLine`, counts both, and keeps
the tool calls still open: a call the CLI never finished is ended at the close.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

# A line longer than this is not parsed (no CLI event is that large); it stays in the log.
MAX_LINE_CHARS = 16 * 1024 * 1024
ENDED_EARLY = "the CLI ended before the call finished"

MessageKind = Literal["message", "reasoning", "error"]


@dataclass(frozen=True)
class Message:
    text: str
    kind: MessageKind = "message"


@dataclass(frozen=True)
class ToolStarted:
    call_id: str
    name: str
    input: Any


@dataclass(frozen=True)
class ToolFinished:
    call_id: str
    name: str
    input: Any
    output: Any
    succeeded: bool
    error: str = ""


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int  # cached tokens included, as OpenAI counts them
    output_tokens: int
    cached_input_tokens: int
    model: str = ""
    cost_usd: float | None = None


@dataclass(frozen=True)
class Outcome:
    """The CLI's last word on its attempt."""

    text: str
    is_error: bool


@dataclass(frozen=True)
class PlainLine:
    text: str


Event = Message | ToolStarted | ToolFinished | TokenUsage | Outcome | PlainLine


class StreamParser:
    """Reads one CLI's event lines. Subclasses turn each JSON object into events."""

    format = "text"

    def __init__(self) -> None:
        self.json_lines = 0
        self.plain_lines = 0
        self._open: dict[str, ToolStarted] = {}

    def feed_line(self, line: str) -> list[Event]:
        stripped = line.strip()
        if not stripped:
            return []
        obj: Any = None
        if stripped.startswith("{") and len(stripped) <= MAX_LINE_CHARS:
            try:
                obj = json.loads(stripped)
            except ValueError:
                obj = None
        if not isinstance(obj, dict):
            self.plain_lines += 1
            return [PlainLine(line.rstrip("\r\n"))]
        events = self.on_object(obj)
        if events is None:
            self.plain_lines += 1
            return [PlainLine(line.rstrip("\r\n"))]
        self.json_lines += 1
        return events

    def on_object(self, obj: dict[str, Any]) -> list[Event] | None:
        """Events for one JSON object, or None when it is not this CLI's."""
        return None

    def finish(self) -> list[Event]:
        """Events owed at the end: calls the CLI never finished (it was killed)."""
        ended: list[Event] = [
            ToolFinished(call.call_id, call.name, call.input, None, False, ENDED_EARLY)
            for call in self._open.values()
        ]
        self._open.clear()
        return ended

    def _start(self, call_id: str, name: str, input: Any) -> list[Event]:
        if call_id in self._open:
            return []
        call = ToolStarted(call_id, name, input)
        self._open[call_id] = call
        return [call]

    def _end(
        self, call_id: str, name: str, input: Any, output: Any, succeeded: bool, error: str = ""
    ) -> list[Event]:
        """The call's end, and its start first when the CLI never announced it."""
        events = self._start(call_id, name, input)
        call = self._open.pop(call_id)
        return [*events, ToolFinished(call_id, call.name, call.input, output, succeeded, error)]
