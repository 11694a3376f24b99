"""What coding CLIs print, read as neutral events.

Claude Code (`claude -p ... --output-format stream-json --verbose`) and Codex (`codex exec
--json`) print one JSON object a line; each parser here reads its CLI's lines in one pass
and turns them into the same few events (agents/workspaces/stream_events.py): an
assistant message, a tool call starting and ending, token usage, and the CLI's final
outcome. A line that is not a JSON object (a warning, a stack trace, a plain-text CLI)
becomes a `PlainLine`; it is already in the run's log, and counting such lines tells a
broken CLI from a quiet one.

    reader = StreamReader(stream_parser("codex"))
    for event in reader.feed(chunk_of_stdout): ...
    for event in reader.close(): ...
"""

from __future__ import annotations

import json
from typing import Any

from agents.workspaces.stream_events import (
    MAX_LINE_CHARS,
    Event,
    Message,
    MessageKind,
    Outcome,
    PlainLine,
    StreamParser,
    TokenUsage,
)

FORMATS = ("claude", "codex", "auto", "text")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    """Text of a tool result: a string, or a list of content blocks."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(block.get("text", "")) for block in value if isinstance(block, dict))
    return "" if value is None else json.dumps(value)


class ClaudeParser(StreamParser):
    """Claude Code's stream-json: `system`, `assistant` and `user` messages, then `result`.

    Tool calls start as `tool_use` blocks of an assistant message and end as
    `tool_result` blocks of the next user message. Usage is taken from `result`, which
    sums the session; Claude repeats a message's usage on each of its content blocks, so
    summing assistant lines would count it twice. A CLI killed before `result` gets the
    last usage seen for each message.
    """

    format = "claude"
    TYPES = frozenset({"system", "assistant", "user", "result", "stream_event", "rate_limit_event"})

    def __init__(self) -> None:
        super().__init__()
        self.model = ""
        self._usage_by_message: dict[str, dict[str, Any]] = {}
        self._usage_reported = False

    def on_object(self, obj: dict[str, Any]) -> list[Event] | None:
        kind = obj.get("type")
        if kind not in self.TYPES:
            return None
        if kind == "system":
            self.model = str(obj.get("model") or self.model)
            return []
        if kind == "result":
            return self._result(obj)
        message = obj.get("message")
        if not isinstance(message, dict):
            return []
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        if kind == "assistant":
            self.model = str(message.get("model") or self.model)
            if isinstance(message.get("usage"), dict):
                self._usage_by_message[str(message.get("id", ""))] = message["usage"]
            return self._assistant(blocks)
        if kind == "user":
            return self._tool_results(blocks)
        return []

    def _assistant(self, blocks: list[Any]) -> list[Event]:
        events: list[Event] = []
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and block.get("text"):
                events.append(Message(str(block["text"])))
            elif block.get("type") == "thinking" and block.get("thinking"):
                events.append(Message(str(block["thinking"]), "reasoning"))
            elif block.get("type") == "tool_use":
                call_id = str(block.get("id", ""))
                events += self._start(call_id, str(block.get("name", "tool")), block.get("input"))
        return events

    def _tool_results(self, blocks: list[Any]) -> list[Event]:
        events: list[Event] = []
        for block in blocks:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            call_id = str(block.get("tool_use_id", ""))
            output = _text(block.get("content"))
            failed = bool(block.get("is_error"))
            started = self._open.get(call_id)
            name = started.name if started else "tool"
            input = started.input if started else None
            events += self._end(call_id, name, input, output, not failed, output if failed else "")
        return events

    def _result(self, obj: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        usage = obj.get("usage")
        if isinstance(usage, dict):
            cost = obj.get("total_cost_usd")
            events.append(self._usage(usage, cost if isinstance(cost, int | float) else None))
            self._usage_reported = True
        is_error = bool(obj.get("is_error")) or obj.get("subtype", "success") != "success"
        text = obj.get("result")
        if not isinstance(text, str) or not text:
            text = "; ".join(map(str, obj.get("errors") or [])) or str(obj.get("subtype", ""))
        events.append(Outcome(text, is_error))
        return events

    def _usage(self, usage: dict[str, Any], cost: float | None = None) -> TokenUsage:
        # Anthropic counts cache reads and writes apart from input_tokens.
        cached = _int(usage.get("cache_read_input_tokens"))
        written = _int(usage.get("cache_creation_input_tokens"))
        return TokenUsage(
            input_tokens=_int(usage.get("input_tokens")) + cached + written,
            output_tokens=_int(usage.get("output_tokens")),
            cached_input_tokens=cached,
            model=self.model,
            cost_usd=cost,
        )

    def finish(self) -> list[Event]:
        events = super().finish()
        if not self._usage_reported and self._usage_by_message:
            parts = [self._usage(usage) for usage in self._usage_by_message.values()]
            events.append(
                TokenUsage(
                    input_tokens=sum(part.input_tokens for part in parts),
                    output_tokens=sum(part.output_tokens for part in parts),
                    cached_input_tokens=sum(part.cached_input_tokens for part in parts),
                    model=self.model,
                )
            )
            self._usage_reported = True
        return events


class CodexParser(StreamParser):
    """Codex's `exec --json` thread events: `thread.started`, `turn.started`, items
    (`item.started` / `item.updated` / `item.completed`), then `turn.completed` with the
    turn's usage or `turn.failed`."""

    format = "codex"
    TYPES = frozenset(
        {
            "thread.started",
            "turn.started",
            "turn.completed",
            "turn.failed",
            "item.started",
            "item.updated",
            "item.completed",
            "error",
        }
    )

    def on_object(self, obj: dict[str, Any]) -> list[Event] | None:
        kind = obj.get("type")
        if kind not in self.TYPES:
            return None
        if kind == "turn.completed":
            usage = _dict(obj.get("usage"))
            return [
                TokenUsage(
                    input_tokens=_int(usage.get("input_tokens")),
                    output_tokens=_int(usage.get("output_tokens")),
                    cached_input_tokens=_int(usage.get("cached_input_tokens")),
                )
            ]
        if kind == "turn.failed":
            error = _dict(obj.get("error"))
            return [Outcome(str(error.get("message") or "the turn failed"), True)]
        if kind == "error":
            return [Message(str(obj.get("message", "")), "error")]
        item = obj.get("item")
        if kind in ("item.started", "item.completed") and isinstance(item, dict):
            return self._item(item, completed=kind == "item.completed")
        return []

    def _item(self, item: dict[str, Any], *, completed: bool) -> list[Event]:
        item_type = item.get("type")
        call_id = str(item.get("id", ""))
        if item_type in ("agent_message", "reasoning", "error"):
            text = str(item.get("text") or item.get("message") or "")
            if not completed or not text:
                return []
            kind: MessageKind = "message" if item_type == "agent_message" else item_type
            return [Message(text, kind)]
        call = self._call(item)
        if call is None:
            return []
        name, input = call
        if not completed:
            return self._start(call_id, name, input)
        status = item.get("status")
        exit_code = item.get("exit_code")
        succeeded = status in (None, "completed") and exit_code in (None, 0)
        output: Any = None
        error = ""
        if item_type == "command_execution":
            output = {"exit_code": exit_code, "output": item.get("aggregated_output", "")}
            if not succeeded:
                error = f"exit code {exit_code}" if exit_code is not None else str(status)
        elif item_type == "mcp_tool_call":
            output = item.get("result")
            failure = item.get("error")
            error = str(failure.get("message", "")) if isinstance(failure, dict) else ""
            succeeded = succeeded and not error
        elif not succeeded:
            error = str(status)
        return self._end(call_id, name, input, output, succeeded, error)

    @staticmethod
    def _call(item: dict[str, Any]) -> tuple[str, Any] | None:
        """The tool name and input an item stands for; None for items that are no call."""
        item_type = item.get("type")
        if item_type == "command_execution":
            return "shell", {"command": item.get("command", "")}
        if item_type == "file_change":
            return "apply_patch", {"changes": item.get("changes") or []}
        if item_type == "mcp_tool_call":
            return f"mcp:{item.get('server', '')}/{item.get('tool', '')}", item.get("arguments")
        if item_type == "web_search":
            return "web_search", {"query": item.get("query", "")}
        return None


class AutoParser(StreamParser):
    """For a command of the user's own: reads its lines as Claude's or Codex's events,
    whichever it recognises first; until then, every line is plain."""

    format = "auto"

    def __init__(self) -> None:
        super().__init__()
        self.chosen: StreamParser | None = None
        self._before = 0  # plain lines before the format was recognised

    def feed_line(self, line: str) -> list[Event]:
        events = self.chosen.feed_line(line) if self.chosen else self._detect(line)
        self.json_lines = self.chosen.json_lines if self.chosen else 0
        self.plain_lines = (self.chosen.plain_lines if self.chosen else 0) + self._before
        return events

    def _detect(self, line: str) -> list[Event]:
        for parser in (ClaudeParser(), CodexParser()):
            events = parser.feed_line(line)
            if parser.json_lines:
                self.chosen = parser
                return events
        self._before += 1
        return [PlainLine(line.rstrip("\r\n"))] if line.strip() else []

    def finish(self) -> list[Event]:
        return self.chosen.finish() if self.chosen else []


def stream_parser(format: str) -> StreamParser:
    """A fresh parser for `format` (one of FORMATS). Raises ValueError for another."""
    parsers: dict[str, type[StreamParser]] = {
        "claude": ClaudeParser,
        "codex": CodexParser,
        "auto": AutoParser,
        "text": StreamParser,
    }
    if format not in parsers:
        raise ValueError(f"unknown stream format {format!r}; expected one of {', '.join(FORMATS)}")
    return parsers[format]()


class StreamReader:
    """Cuts streamed text into lines (a line may arrive in pieces) and parses each."""

    def __init__(self, parser: StreamParser) -> None:
        self.parser = parser
        self._partial: list[str] = []
        self._partial_chars = 0

    def feed(self, text: str) -> list[Event]:
        events: list[Event] = []
        *complete, rest = text.split("\n")
        for piece in complete:
            if self._partial:
                self._partial.append(piece)
                piece = "".join(self._partial)
                self._partial, self._partial_chars = [], 0
            events += self.parser.feed_line(piece)
        if rest:
            self._partial.append(rest)
            self._partial_chars += len(rest)
            if self._partial_chars > MAX_LINE_CHARS:
                # No event is this long: drop what was kept (the log has it) and count it.
                self._partial, self._partial_chars = [], 0
                self.parser.plain_lines += 1
        return events

    def close(self) -> list[Event]:
        """The last line if it had no newline, then what the parser owes at the end."""
        events: list[Event] = []
        if self._partial:
            events += self.parser.feed_line("".join(self._partial))
            self._partial, self._partial_chars = [], 0
        return events + self.parser.finish()
