"""A coding CLI's events, as they stream, recorded in the run's audit trail.

Tool calls become a started row and a completion row (as the step loop's do), the
assistant's messages become decisions, and token usage becomes usage metrics. Large
inputs and outputs are cut in the audit rows; the run's log keeps them whole. An event
that cannot be recorded is counted and skipped: the CLI is not stopped for it.

A piece of output is recorded in one transaction, so that a crash never leaves half of
it, and in a few inserts however many calls it holds (the started rows, then their
completions, which point at them and so need their ids first; the decisions; the usage
metrics), with the piece's log chunk when the log writes one. A large log holds
thousands of calls, and a model instance or a statement per row would cost more than
the rows: they are built as the database takes them, their JSON encoded once, and
inserted by the statements of `agents.event_statements`. The database's constraints and
append-only triggers hold for them as for any other row.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agents.event_statements import (
    COMPLETION_OWN,
    COMPLETION_SHARED,
    DECISION_OWN,
    DECISION_SHARED,
    STARTED_OWN,
    STARTED_SHARED,
    rows_insert,
)
from agents.llm import Completion, Usage
from agents.models import AgentRun, DecisionLog, Metric, ToolCall
from agents.services.run_logs import RunLogWriter
from agents.services.usage import UsageContext, usage_rows
from agents.workspaces.stream_events import (
    Event,
    Message,
    Outcome,
    TokenUsage,
    ToolFinished,
    ToolStarted,
)
from agents.workspaces.streams import StreamReader, stream_parser
from core.db import prepared_cursor
from core.errors import DomainError
from core.inserts import insert_rows
from core.text import without_nul

logger = logging.getLogger(__name__)

# What an audit row keeps of a call's input or output, and of a message.
VALUE_CHARS = 16_000
MESSAGE_CHARS = 10_000
# Formats whose CLI always prints events: printing none means it did not work.
EVENT_FORMATS = ("claude", "codex")
# The most events recorded in one transaction (a piece of output holds fewer): it bounds
# a statement's size.
BATCH_EVENTS = 500
# What the database or the rows' checks raise for an event that cannot be stored (text
# without a UTF-8 form among them: a lone surrogate, such as a cut JavaScript string).
RECORD_ERRORS = (DatabaseError, DomainError, ValidationError, UnicodeError)
CUT = "…[cut]"
# How PostgreSQL's jsonb would see a NUL character in JSON text: it refuses it.
JSON_NUL = "\\u0000"
# json.dumps(value, default=str) makes an encoder each call, which costs more than using it.
_ENCODER = json.JSONEncoder(default=str)


def capped(value: Any, limit: int = VALUE_CHARS) -> Any:
    """`value` for a JSON column, cut to about `limit` characters and without NULs."""
    if isinstance(value, str):
        return without_nul(value if len(value) <= limit else value[:limit] + CUT)
    text = _ENCODER.encode(value)
    if len(text) <= limit:
        return without_nul(value)
    return {"cut": True, "preview": without_nul(text[:limit])}


def capped_json(value: Any, limit: int = VALUE_CHARS) -> str | None:
    """capped(value) as JSON text, encoded once; None (SQL NULL) for None."""
    if value is None:
        return None
    if isinstance(value, str):
        text = json.dumps(value if len(value) <= limit else value[:limit] + CUT)
    else:
        text = _ENCODER.encode(value)
        if len(text) > limit:
            text = json.dumps({"cut": True, "preview": text[:limit]})
    if JSON_NUL in text:  # rare: encode again what capped() gives, NULs replaced
        return _ENCODER.encode(capped(value, limit))
    return text


def capped_text(value: str, limit: int = MESSAGE_CHARS) -> str:
    return without_nul(value if len(value) <= limit else value[:limit] + CUT)


class _Call:
    """A call's started row (its id once inserted) and when it started."""

    __slots__ = ("at_ms", "pk", "tool_name")

    def __init__(self, tool_name: str, at_ms: float) -> None:
        self.pk: int | None = None
        self.tool_name = tool_name
        self.at_ms = at_ms


class _Batch:
    """The rows of a batch of events, as the database takes them, inserted together."""

    def __init__(self, links: tuple[int | None, ...]) -> None:
        self.links = links
        self.at = connection.ops.adapt_datetimefield_value(timezone.now())
        # Each row's own values, in the order of STARTED_OWN, COMPLETION_OWN, DECISION_OWN.
        self.started: list[tuple[_Call, list[Any]]] = []
        self.completions: list[tuple[_Call, list[Any]]] = []  # started ids filled in last
        self.decisions: list[list[Any]] = []
        self.metrics: list[Metric] = []

    def __bool__(self) -> bool:
        return bool(self.started or self.completions or self.decisions or self.metrics)

    def start(self, call: _Call, *, call_id: str, input: str | None) -> None:
        self.started.append((call, [call_id, call.tool_name, input]))

    def complete(
        self, call: _Call, *, status: str, output: str | None, error: str, duration_ms: int
    ) -> None:
        row = [None, call.tool_name, status, output, error, duration_ms]
        self.completions.append((call, row))

    def decide(self, text: str, reasoning: str) -> None:
        self.decisions.append([text, reasoning])

    def insert(self) -> None:
        """Insert the batch's rows (inside the caller's transaction)."""
        if self.started:
            rows = [row for _, row in self.started]
            shared = (*self.links, "", "", self.at)  # no status, no error yet
            ids = _insert(ToolCall, STARTED_SHARED, shared, STARTED_OWN, rows)
            for (call, _), pk in zip(self.started, ids, strict=True):
                call.pk = pk
        if self.completions:
            for call, row in self.completions:
                row[0] = call.pk  # the started row's id, known by now
            rows = [row for _, row in self.completions]
            shared = (*self.links, "", "{}", self.at)  # no call id, no input: the started's
            _insert(ToolCall, COMPLETION_SHARED, shared, COMPLETION_OWN, rows)
        if self.decisions:
            shared = (*self.links, self.at)
            _insert(DecisionLog, DECISION_SHARED, shared, DECISION_OWN, self.decisions)
        insert_rows(self.metrics)


def _insert(
    model: type[ToolCall | DecisionLog],
    shared_fields: tuple[str, ...],
    shared: Sequence[Any],
    own_fields: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
) -> list[int]:
    """Insert `rows` in one statement (on SQLite, as many as its limit on parameters
    asks for); their ids, in the rows' order."""
    vendor = connection.vendor
    if vendor == "postgresql":
        return _execute(
            rows_insert(model, shared_fields, own_fields, len(rows), vendor),
            [*shared, *map(list, zip(*rows, strict=True))],
        )
    limit = connection.features.max_query_params
    per_statement = len(rows) if limit is None else limit // (len(shared) + len(own_fields))
    ids = []
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        sql = rows_insert(model, shared_fields, own_fields, len(part), vendor)
        ids += _execute(sql, [value for row in part for value in (*shared, *row)])
    return ids


def _execute(sql: str, values: list[Any]) -> list[int]:
    with prepared_cursor() as cursor:
        cursor.execute(sql, values)
        # The ids are drawn in the rows' order, whatever order RETURNING lists them in.
        return sorted(pk for (pk,) in cursor.fetchall())


class EventIngest:
    """Parses a CLI's stdout as it comes and records each event for `run`. Given the
    run's `log`, it also writes the output there: what the log writes of a piece then
    commits with the piece's rows, in one transaction."""

    def __init__(
        self, *, run: AgentRun, provider: str, format: str, log: RunLogWriter | None = None
    ) -> None:
        self.run = run
        self.log = log
        self.provider = provider
        self.reader = StreamReader(stream_parser(format))
        self.expects_events = format in EVENT_FORMATS
        self.summary = ""
        self.last_message = ""
        self.failed_outcome: str | None = None
        self.dropped = 0
        # The run's project, agent, run and task ids, the first columns of each row.
        self.links = (run.project_id, run.agent_id, run.pk, run.task_id)
        self._open: dict[str, _Call] = {}  # calls started (and recorded), not finished
        self._reasoning: dict[str, str] = {}  # a decision's reasoning by kind, as JSON

    @property
    def events(self) -> int:
        """The CLI's event lines read so far."""
        return self.reader.parser.json_lines

    def feed(self, text: str, *, elapsed_ms: float) -> None:
        self._record_all(self.reader.feed(text), elapsed_ms, output=text)

    def close(self, *, elapsed_ms: float) -> None:
        self._record_all(self.reader.close(), elapsed_ms)
        if not self.summary:
            self.summary = self.last_message

    def _record_all(self, events: list[Event], elapsed_ms: float, output: str = "") -> None:
        """Records `events` in batches, the output going with the last one."""
        starts = range(0, len(events), BATCH_EVENTS)
        for start in starts[:-1]:
            self._record_batch(events[start : start + BATCH_EVENTS], elapsed_ms)
        self._record_batch(events[starts[-1] :] if starts else [], elapsed_ms, output)

    def _record_batch(self, events: list[Event], elapsed_ms: float, output: str = "") -> None:
        """One transaction for a batch of events (a commit each would cost more than
        the inserts), and for the log's write of `output`; when the rows fail, the
        output is written alone and each event is tried on its own."""
        opened = dict(self._open)
        logging = False  # from then on, a failure is the log's own
        try:
            batch = _Batch(self.links)
            for event in events:
                self._stage(event, batch, elapsed_ms)
            if not batch:
                logging = True
                self._log(output)
                return
            with transaction.atomic():
                batch.insert()
                logging = True
                self._log(output)
        except Exception as exc:
            self._open = opened  # the calls the batch started are not recorded
            if logging or not isinstance(exc, RECORD_ERRORS):
                raise
            self._log(output)
            if len(events) > 1:
                for event in events:
                    self._record_batch([event], elapsed_ms)
                return
            self.dropped += 1
            logger.exception("Run %s: could not record %r", self.run.pk, type(events[0]).__name__)

    def _log(self, output: str) -> None:
        if output and self.log is not None:
            self.log.write("stdout", output)

    def _stage(self, event: Event, batch: _Batch, elapsed_ms: float) -> None:
        """Add the event's rows to `batch`, and what it says to the ingest's state."""
        if isinstance(event, ToolStarted):
            started = _Call(without_nul(event.name[:100]) or "tool", elapsed_ms)
            input = capped_json({} if event.input is None else event.input)
            batch.start(started, call_id=without_nul(event.call_id[:100]), input=input)
            self._open[event.call_id] = started
        elif isinstance(event, ToolFinished):
            call = self._open.pop(event.call_id, None)
            if call is None:
                return  # its start could not be recorded
            batch.complete(
                call,
                status=ToolCall.Status.SUCCEEDED if event.succeeded else ToolCall.Status.FAILED,
                output=capped_json(event.output),
                error=capped_text(event.error),
                duration_ms=max(0, round(elapsed_ms - call.at_ms)),
            )
        elif isinstance(event, Message):
            if event.kind == "reasoning" or not event.text.strip():
                return  # the log has it; decisions are what the agent said and did
            if event.kind == "message":
                self.last_message = event.text
            batch.decide(capped_text(event.text), self._reasoning_json(event.kind))
        elif isinstance(event, TokenUsage):
            batch.metrics += self._usage(event, elapsed_ms)
        elif isinstance(event, Outcome):
            if event.is_error:
                self.failed_outcome = event.text or "error"
            else:
                self.summary = event.text

    def _reasoning_json(self, kind: str) -> str:
        if kind not in self._reasoning:
            self._reasoning[kind] = json.dumps({"source": self.provider, "kind": kind})
        return self._reasoning[kind]

    def _usage(self, event: TokenUsage, elapsed_ms: float) -> list[Metric]:
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
        return usage_rows(completion=completion, context=context)
