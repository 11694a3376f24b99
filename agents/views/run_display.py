"""A run's steps and tool calls as the run page and the activity feed show them."""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from agents.models import AgentStep, ToolCall

# Tool input and output can be whole files; the page shows this much of each.
SHOWN_CHARS = 20_000


@dataclass
class ShownToolCall:
    name: str
    call_id: str
    status: str  # succeeded, failed, running, unfinished, requested or not-run
    label: str
    input: str
    output: str = ""
    error: str = ""
    duration_ms: int | None = None
    at: datetime | None = None
    step: int | None = None
    bar: "Bar | None" = None
    pk: int | None = None  # the started row's, for calls that were logged


@dataclass(frozen=True)
class Bar:
    """Where something ran on the run's timeline, in thousandths of the run's span."""

    x: int
    width: int


@dataclass
class ShownStep:
    number: int
    status: str  # done, failed, running, or stopped (running when its run ended)
    attempts: int
    reply_text: str
    error: str
    started_at: datetime
    finished_at: datetime | None
    tool_calls: list[ShownToolCall] = field(default_factory=list)
    bar: Bar | None = None
    tokens: int | None = None
    cost: float | None = None

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at) / timedelta(milliseconds=1))


def pretty(value: Any) -> str:
    """Text as it is, anything else as indented JSON; cut at SHOWN_CHARS."""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    )
    if len(text) > SHOWN_CHARS:
        return f"{text[:SHOWN_CHARS]}\n… ({len(text) - SHOWN_CHARS:,} more characters)"
    return text


def _pretty_arguments(raw: Any) -> str:
    # The model's raw arguments: JSON when it got them right, shown as sent when not.
    if isinstance(raw, str):
        try:
            return pretty(json.loads(raw))
        except ValueError:
            return pretty(raw)
    return pretty(raw)


CALL_FINISHED = ("succeeded", "failed")
CALL_LABELS = {
    "succeeded": "succeeded",
    "failed": "failed",
    "running": "running",
    "unfinished": "never finished",
    "requested": "not started yet",
    "not-run": "not run",
}


def shown_call(started: ToolCall, *, ended: bool) -> ShownToolCall:
    """A started tool call with its completion, if any; `ended` says the run is over, so a
    call without a completion never finished rather than still running."""
    completion = getattr(started, "completion", None)
    unfinished = "unfinished" if ended else "running"
    status = completion.status if completion is not None else unfinished
    return ShownToolCall(
        name=started.tool_name,
        call_id=started.call_id,
        status=status,
        label=CALL_LABELS[status],
        input=pretty(started.input),
        output="" if completion is None or completion.output is None else pretty(completion.output),
        error=completion.error if completion is not None else "",
        duration_ms=completion.duration_ms if completion is not None else None,
        at=started.created_at,
        step=started.step,
        pk=started.pk,
    )


def _reply_requests(reply: Any) -> list[tuple[str, str, Any]]:
    """(call id, tool name, raw arguments) for each tool call in an OpenAI-shaped reply."""
    requests = []
    calls = reply.get("tool_calls") if isinstance(reply, dict) else None
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        requests.append(
            (
                str(call.get("id") or ""),
                str(function.get("name") or "(unnamed)"),
                function.get("arguments"),
            )
        )
    return requests


def shown_steps(
    steps: list[AgentStep], calls: list[ToolCall], *, ended: bool
) -> tuple[list[ShownStep], list[ShownToolCall]]:
    """The steps with their tool calls in the order the model asked for them, and the
    calls that belong to no loaded step (an external agent may report calls without one)."""
    by_step: dict[int | None, list[ToolCall]] = defaultdict(list)
    for call in calls:
        by_step[call.step].append(call)
    shown = []
    for step in steps:
        rows = by_step.pop(step.number, [])
        by_call_id = {row.call_id: row for row in rows if row.call_id}
        used: set[int] = set()
        tool_calls = []
        for call_id, name, arguments in _reply_requests(step.reply):
            row = by_call_id.get(call_id) if call_id else None
            if row is not None and row.pk not in used:
                used.add(row.pk)
                tool_calls.append(shown_call(row, ended=ended))
            else:
                status = "not-run" if ended else "requested"
                tool_calls.append(
                    ShownToolCall(
                        name=name,
                        call_id=call_id,
                        status=status,
                        label=CALL_LABELS[status],
                        input=_pretty_arguments(arguments),
                        step=step.number,
                    )
                )
        tool_calls += [shown_call(row, ended=ended) for row in rows if row.pk not in used]
        reply = step.reply if isinstance(step.reply, dict) else {}
        content = reply.get("content")
        shown.append(
            ShownStep(
                number=step.number,
                status="stopped"
                if ended and step.status == AgentStep.Status.RUNNING
                else step.status,
                attempts=step.attempts,
                reply_text=content if isinstance(content, str) else "",
                error=step.error,
                started_at=step.started_at,
                finished_at=step.finished_at,
                tool_calls=tool_calls,
            )
        )
    loose = [shown_call(call, ended=ended) for rows in by_step.values() for call in rows]
    loose.sort(key=lambda call: (call.at or timezone.now(), call.step or 0))
    return shown, loose


def place_on_timeline(
    steps: list[ShownStep], loose: list[ShownToolCall], *, start: datetime, end: datetime
) -> None:
    """Give each step and tool call its bar on the run's timeline from `start` to `end`,
    so the run page reads as a waterfall. What has not finished runs to `end`."""
    span = max((end - start) / timedelta(milliseconds=1), 1.0)

    def bar(began: datetime | None, lasted_ms: float | None) -> Bar | None:
        if began is None:
            return None
        x = min(max((began - start) / timedelta(milliseconds=1) / span * 1000, 0), 1000)
        if lasted_ms is None:
            lasted_ms = (end - began) / timedelta(milliseconds=1)
        # At least a sliver, so a call of a few milliseconds still shows.
        width = max(min(lasted_ms / span * 1000, 1000 - x), 3)
        return Bar(x=round(min(x, 997)), width=round(width))

    for step in steps:
        ran = step.duration_ms
        step.bar = bar(step.started_at, ran)
        for call in step.tool_calls:
            call.bar = bar(call.at, call.duration_ms)
    for call in loose:
        call.bar = bar(call.at, call.duration_ms)


@dataclass(frozen=True)
class ReasoningItem:
    label: str
    kind: str  # text (Markdown), list (of Markdown lines) or json
    value: str | list[str]


def reasoning_items(reasoning: Any) -> list[ReasoningItem]:
    """A decision's reasoning to read as prose: its keys become labels ("risk_level" →
    "Risk level"), strings and lists of plain values stay text, and anything deeper is
    shown as indented JSON."""
    if not isinstance(reasoning, dict):
        return [ReasoningItem("", "text", reasoning)] if isinstance(reasoning, str) else []
    items = []
    for key, value in reasoning.items():
        label = str(key).replace("_", " ").strip().capitalize()
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            items.append(ReasoningItem(label, "list", [str(v) for v in value]))
        elif isinstance(value, str | int | float | bool):
            items.append(ReasoningItem(label, "text", str(value)))
        else:
            items.append(ReasoningItem(label, "json", pretty(value)))
    return items
