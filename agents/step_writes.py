"""An agent step's writes on PostgreSQL that share a statement (see agents.runtime).

A step whose tool calls all stay in the database is one transaction: the model's reply
with its usage, each call's "started" row, the tool's own work, each completion row and
the step's end. Each statement is a round trip the step waits on, so the reply carries
its first call's started row in its statement, and the last completion row carries the
step's end in its. The rows are built and checked by the log's services
(`tool_call_started_row`, `tool_call_completion_row`) and stay append-only: these only
insert them.
"""

from typing import Any, NamedTuple

from django.db import connection
from django.utils import timezone

from agents import statements
from agents.models import AgentStep, ToolCall
from core.db import prepared_cursor
from core.inserts import insert_statement, mark_inserted


class FirstCall(NamedTuple):
    """A reply's first tool call, its "started" row not yet inserted, with its arguments
    as the step parsed them (None and why, when unusable)."""

    started: ToolCall
    arguments: dict[str, Any] | None
    argument_error: str


def reply_stored_with_started_call(
    *,
    agent_id: int,
    run_id: int,
    usage_insert: tuple[str, list[Any]],
    reply: Any,
    step: AgentStep,
    first: FirstCall,
) -> tuple[str, str] | None:
    """Lock the run, record the usage, store the reply and insert the first call's
    started row, in one statement: the run's and project's statuses, or None when a
    duplicate delivery stored its reply first (nothing but the usage was written)."""
    usage_sql, usage_params = usage_insert
    started = insert_statement([first.started], unless=statements.REPLY_NOT_STORED)
    assert started is not None  # a ToolCall inserts in one statement
    started_sql, started_params = started
    with prepared_cursor() as cursor:
        cursor.execute(
            statements.reply_stored_with_started_call(usage_sql, started_sql),
            (agent_id, run_id, *usage_params, reply, step.pk, *started_params),
        )
        row = cursor.fetchone()
    if row is None:
        return None
    run_status, project_status, started_id = row
    mark_inserted(first.started, started_id)
    return str(run_status), str(project_status)


def completion_ending_step(*, completion: ToolCall, step: AgentStep) -> bool:
    """Insert a call's completion row and mark the step done, in one statement: whether
    this statement ended the step (only the delivery that does moves the run on)."""
    insert = insert_statement([completion])
    assert insert is not None  # a ToolCall inserts in one statement
    insert_sql, insert_params = insert
    finished_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with prepared_cursor() as cursor:
        cursor.execute(
            statements.completion_ending_step(insert_sql),
            (*insert_params, finished_at, step.pk),
        )
        completion_id, ended = cursor.fetchone()
    mark_inserted(completion, completion_id)
    return bool(ended)
