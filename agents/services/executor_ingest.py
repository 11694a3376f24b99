"""A coding CLI's events, as they stream, recorded in the run's audit trail.

Tool calls become a started row and a completion row (as the step loop's do), the
assistant's messages become decisions, and token usage becomes usage metrics. Large
inputs and outputs are cut in the audit rows; the run's log keeps them whole. An event
that cannot be recorded is counted and skipped: the CLI is not stopped for it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from agents.llm import Completion, Usage
from agents.models import AgentRun, ToolCall
from agents.services.logs import decisions_record, tool_call_complete, tool_call_start
from agents.services.usage import UsageContext, usage_record
from agents.workspaces.streams import (
    Event,
    Message,
    Outcome,
    StreamReader,
    TokenUsage,
    ToolFinished,
    ToolStarted,
    stream_parser,
)
from core.errors import DomainError
from core.text import without_nul

logger = logging.getLogger(__name__)

# What an audit row keeps of a call's input or output, and of a message.
VALUE_CHARS = 16_000
MESSAGE_CHARS = 10_000
# Formats whose CLI always prints events: printing none means it did not work.
EVENT_FORMATS = ("claude", "codex")


def capped(value: Any, limit: int = VALUE_CHARS) -> Any:
    """`value` for a JSON column, cut to about `limit` characters and without NULs."""
    if isinstance(value, str):
        return without_nul(value if len(value) <= limit else value[:limit] + "…[cut]")
    text = json.dumps(value, default=str)
    if len(text) <= limit:
        return without_nul(value)
    return {"cut": True, "preview": without_nul(text[:limit])}


class EventIngest:
    """Parses a CLI's stdout as it comes and records each event for `run`."""

    def __init__(self, *, run: AgentRun, provider: str, format: str) -> None:
        self.run = run
        self.provider = provider
        self.reader = StreamReader(stream_parser(format))
        self.expects_events = format in EVENT_FORMATS
        self.summary = ""
        self.last_message = ""
        self.failed_outcome: str | None = None
        self.dropped = 0
        self._open: dict[str, tuple[ToolCall, float]] = {}
        self._decisions: list[dict[str, Any]] = []

    @property
    def events(self) -> int:
        """The CLI's event lines read so far."""
        return self.reader.parser.json_lines

    def feed(self, text: str, *, elapsed_ms: float) -> None:
        self._record_all(self.reader.feed(text), elapsed_ms)

    def close(self, *, elapsed_ms: float) -> None:
        self._record_all(self.reader.close(), elapsed_ms)
        if not self.summary:
            self.summary = self.last_message

    def _record_all(self, events: list[Event], elapsed_ms: float) -> None:
        """One transaction for a piece's events (a commit each would cost more than
        the inserts); when one of them fails, each is tried on its own."""
        if len(events) < 2:
            for event in events:
                self._record(event, elapsed_ms)
            return
        before = (dict(self._open), self.summary, self.last_message, self.failed_outcome)
        try:
            with transaction.atomic():
                for event in events:
                    self._record_one(event, elapsed_ms)
                self._decisions_flush()
        except (DatabaseError, DomainError, ValidationError):
            self._open, self.summary, self.last_message, self.failed_outcome = before
            self._decisions = []
            for event in events:
                self._record(event, elapsed_ms)

    def _record(self, event: Event, elapsed_ms: float) -> None:
        try:
            with transaction.atomic():
                self._record_one(event, elapsed_ms)
                self._decisions_flush()
        except (DatabaseError, DomainError, ValidationError):
            self._decisions = []
            self.dropped += 1
            logger.exception("Run %s: could not record %r", self.run.pk, type(event).__name__)

    def _record_one(self, event: Event, elapsed_ms: float) -> None:
        run = self.run
        if isinstance(event, ToolStarted):
            row = tool_call_start(
                project=run.project,
                tool_name=event.name[:100] or "tool",
                input=capped(event.input),
                run=run,
                call_id=event.call_id[:100],
            )
            self._open[event.call_id] = (row, elapsed_ms)
        elif isinstance(event, ToolFinished):
            opened = self._open.pop(event.call_id, None)
            if opened is None:
                return
            row, at_ms = opened
            tool_call_complete(
                started=row,
                status=ToolCall.Status.SUCCEEDED if event.succeeded else ToolCall.Status.FAILED,
                output=capped(event.output),
                error=capped(event.error, MESSAGE_CHARS),
                duration_ms=max(0, round(elapsed_ms - at_ms)),
            )
        elif isinstance(event, Message):
            if event.kind == "reasoning" or not event.text.strip():
                return  # the log has it; decisions are what the agent said and did
            if event.kind == "message":
                self.last_message = event.text
            # Written with the piece's other rows (decisions_flush): one insert for all.
            self._decisions.append(
                {
                    "decision": capped(event.text, MESSAGE_CHARS),
                    "reasoning": {"source": self.provider, "kind": event.kind},
                }
            )
        elif isinstance(event, TokenUsage):
            self._usage(event, elapsed_ms)
        elif isinstance(event, Outcome):
            if event.is_error:
                self.failed_outcome = event.text or "error"
            else:
                self.summary = event.text

    def _decisions_flush(self) -> None:
        if self._decisions:
            decisions_record(run=self.run, entries=self._decisions)
            self._decisions = []

    def _usage(self, event: TokenUsage, elapsed_ms: float) -> None:
        completion = Completion(
            content=None,
            tool_calls=(),
            finish_reason="",
            usage=Usage(
                input_tokens=event.input_tokens,
                output_tokens=event.output_tokens,
                cached_input_tokens=event.cached_input_tokens,
            ),
            model=event.model or self.run.agent.model or self.provider,
            latency_ms=elapsed_ms,
            provider=self.provider,
        )
        context = UsageContext(project=self.run.project, run=self.run, purpose="executor")
        usage_record(completion=completion, context=context)
