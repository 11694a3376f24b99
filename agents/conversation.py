"""What the model sees at a step of a run: the run's opening messages, then each
earlier step's reply followed by its calls' results, and the feedback the run was given
between steps."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.db import connection

from agents.llm import ChatMessage
from agents.models import AgentRun, ToolCall
from agents.statements import REPLY_FIELDS, TOOL_RESULT_FIELDS, step_statements
from core.db import converted_row, prepared_cursor


@dataclasses.dataclass(frozen=True)
class History:
    """What the steps before a step left: their replies, [(number, reply)] in order, and
    their finished calls' results, {(step, call id): (status, output, error)}."""

    replies: list[tuple[int, dict[str, Any]]]
    results: dict[tuple[int, str], tuple[str, Any, str]]

    @classmethod
    def from_json(cls, replies: str, results: str) -> History:
        """From the JSON texts statements.StepStatements.claim_step returns."""
        return cls(
            replies=[(int(number), reply) for number, reply in json.loads(replies)],
            results={
                (int(step), call_id): (status, output, error)
                for step, call_id, status, output, error in json.loads(results)
            },
        )

    @classmethod
    def read(cls, run: AgentRun, *, before_step: int) -> History:
        """Read from the database (two queries)."""
        statements = step_statements(connection.vendor)
        with prepared_cursor() as cursor:
            cursor.execute(statements.tool_results, (run.pk, before_step))
            results = {
                (step, call_id): (status, output, error)
                for step, call_id, status, output, error in (
                    converted_row(TOOL_RESULT_FIELDS, row) for row in cursor.fetchall()
                )
            }
            cursor.execute(statements.replies, (run.pk, before_step))
            replies = [
                (number, reply)
                for number, reply in (converted_row(REPLY_FIELDS, r) for r in cursor.fetchall())
            ]
        return cls(replies=replies, results=results)


def conversation(
    run: AgentRun, *, before_step: int, history: History | None = None
) -> list[ChatMessage]:
    """The messages the model sees at `before_step`: the opening, then each finished
    step's reply followed by its tool results. `history` is what the steps before left,
    when the caller has read it already (else two queries read it)."""
    messages = [ChatMessage.from_openai(m) for m in run.payload.get("messages", [])]
    if history is None:
        history = History.read(run, before_step=before_step)
    replies, results = history.replies, history.results
    # What the run was told between steps (its checks' failures), after the step it follows.
    feedback: dict[int, list[str]] = {}
    for note in run.payload.get("feedback", []):
        feedback.setdefault(int(note["after_step"]), []).append(str(note["content"]))
    for number, reply_data in replies:
        reply = ChatMessage.from_openai(reply_data)
        messages.append(reply)
        for request in reply.tool_calls:
            result = results.get((number, request.id))
            messages.append(ChatMessage.tool(request.id, _tool_result_text(result)))
        messages.extend(ChatMessage.user(text) for text in feedback.get(number, ()))
    return messages


def _tool_result_text(result: tuple[str, Any, str] | None) -> str:
    """What the model is told of a call, from its completion's (status, output, error)."""
    if result is None:
        return "error: the tool call did not complete"
    status, output, error = result
    if status == ToolCall.Status.FAILED:
        return f"error: {error}"
    return json.dumps(output, ensure_ascii=False, default=str)
