"""The model's reply to a step: asked for, made storable, and stored with its usage;
a reply whose calls all stay in the database is carried out in the same transaction."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from django.db import DatabaseError, connection, transaction

from agents import services as agent_services
from agents.conversation import History, conversation
from agents.llm import ChatMessage, Completion, ToolCallRequest, get_llm_client
from agents.models import AgentRun, AgentStep, ToolCall
from agents.router import complete_for
from agents.runtime.calls import (
    FINISHING_TOOLS,
    _end_step,
    _lock_run,
    _log_started,
    _may_commit_without_flush_wait,
    _parse_arguments,
    _started_fields,
    _tool_outcome,
)
from agents.services.usage import UsageContext, usage_record, usage_rows
from agents.statements import REPLY_FIELDS, step_statements
from agents.step_writes import FirstCall, completion_ending_step, reply_stored_with_started_call
from agents.tools import Tool
from core.db import commit_without_flush_wait, prepared_cursor
from core.inserts import insert_rows, insert_statement
from core.text import NUL, without_nul

logger = logging.getLogger(__name__)


STEP_PURPOSE = "agent_step"


def _ask_model(
    run: AgentRun, step: AgentStep, tools: dict[str, Tool], history: History | None
) -> tuple[bool, ToolCall | None]:
    """Ask the model for the step's reply and store it with the call's usage and the
    "started" row of its first tool call, in one transaction. Sets `step.reply`, to a
    duplicate delivery's reply when that was stored first. Returns whether this
    delivery's reply was stored, and the started row it logged.

    A reply whose calls all stay in the database (low-risk tools, unknown tools) is
    carried out in that same transaction, calls and step's end included: the step is
    then done (`step.status`) when this returns. A worker that dies meanwhile leaves
    nothing behind, and the retry asks the model again.
    """
    client = get_llm_client()
    usage = UsageContext(
        project=run.project,
        agent=run.agent,
        run=run,
        task=run.task,
        purpose=STEP_PURPOSE,
        step=step.number,
    )
    completion = complete_for(
        client,
        run.agent,
        conversation(run, before_step=step.number, history=history),
        tools=[t.spec() for t in tools.values()],
        purpose=STEP_PURPOSE,
    )
    completion = _storable(completion)
    message = completion.as_message().to_openai()
    first = completion.tool_calls[0] if completion.tool_calls else None
    first_tool = tools.get(first.name) if first is not None else None
    whole_step = all(
        _may_commit_without_flush_wait(tools.get(call.name)) for call in completion.tool_calls
    )
    started, project_status = None, ""
    try:
        with transaction.atomic(durable=True):
            if whole_step:
                first_call = _first_call(run, step, first, first_tool)
                stored, project_status = _lock_run_and_store_reply(
                    run, step, message, completion, usage, first_call
                )
            else:
                if _may_commit_without_flush_wait(first_tool):
                    commit_without_flush_wait()  # a lost reply is asked for again
                stored = _store_reply_with_usage(step, message, completion, usage)
            if stored and whole_step:
                step.reply = message
                _carry_out_in_database(
                    run, step, completion.tool_calls, tools, project_status, first_call
                )
            elif stored and first is not None:
                arguments, _ = _parse_arguments(first_tool, first)
                started = _log_started(run, step, first, first_tool, arguments)
    except Exception:
        # The call was paid for all the same: keep its usage if the database lets us.
        try:
            with transaction.atomic():
                usage_record(completion=completion, context=usage)
        except DatabaseError:
            logger.exception("Could not record the usage of run %s step %s", run.pk, step.number)
        raise
    step.reply = (
        message if stored else AgentStep.objects.values_list("reply", flat=True).get(pk=step.pk)
    )
    return bool(stored), started


def _store_reply_with_usage(
    step: AgentStep, message: dict[str, Any], completion: Completion, usage: UsageContext
) -> bool:
    """Record the model call's usage and store its reply, unless a duplicate delivery
    running alongside stored one first (it is used instead): whether this one was stored.
    On PostgreSQL one statement does both (the usage's INSERT in its WITH clause)."""
    metrics = usage_rows(completion=completion, context=usage)
    reply = REPLY_FIELDS[1].get_db_prep_save(message, connection)
    store = step_statements(connection.vendor).store_reply
    usage_insert = insert_statement(metrics) if connection.vendor == "postgresql" else None
    with prepared_cursor() as cursor:
        if usage_insert is None:
            insert_rows(metrics)
            cursor.execute(store, (reply, step.pk))
        else:
            sql, params = usage_insert
            cursor.execute(f"WITH usage AS ({sql}) {store}", (*params, reply, step.pk))
        return bool(cursor.rowcount)


def _lock_run_and_store_reply(
    run: AgentRun,
    step: AgentStep,
    message: dict[str, Any],
    completion: Completion,
    usage: UsageContext,
    first: FirstCall | None = None,
) -> tuple[bool, str]:
    """_lock_run, then _store_reply_with_usage: whether the reply was stored, and the
    project's status. The run is locked first, in the order every path takes it (the
    step may end the run), so a duplicate delivery waits until this one has committed.
    On PostgreSQL one statement does it all, and inserts the `first` call's started row
    when the reply was stored (it then has its primary key)."""
    statements = step_statements(connection.vendor)
    if statements.locked_run is None or statements.store_reply_locked is None:
        project_status = _lock_run(run)
        return _store_reply_with_usage(step, message, completion, usage), project_status
    metrics = usage_rows(completion=completion, context=usage)
    usage_insert = insert_statement(metrics)
    assert usage_insert is not None  # metrics insert in one statement
    reply = REPLY_FIELDS[1].get_db_prep_save(message, connection)
    if first is not None:
        statuses = reply_stored_with_started_call(
            agent_id=run.agent_id,
            run_id=run.pk,
            usage_insert=usage_insert,
            reply=reply,
            step=step,
            first=first,
        )
        if statuses is None:
            return False, ""
        run.status, project_status = statuses
        return True, project_status
    usage_sql, usage_params = usage_insert
    with prepared_cursor() as cursor:
        cursor.execute(
            f"WITH {statements.locked_run}, usage AS ({usage_sql}) {statements.store_reply_locked}",
            (run.agent_id, run.pk, *usage_params, reply, step.pk),
        )
        row = cursor.fetchone()
    if row is None:
        return False, ""
    run.status, project_status = row
    return True, str(project_status)


def _carry_out_in_database(
    run: AgentRun,
    step: AgentStep,
    requests: tuple[ToolCallRequest, ...],
    tools: dict[str, Tool],
    project_status: str,
    first: FirstCall | None = None,
) -> None:
    """Log, run and complete each of a just-stored reply's calls, none of which acts
    outside the database, then end the step, all inside the caller's transaction, which
    stored the reply and holds the run locked (see _lock_run). `first`: the first call,
    if its started row was stored with the reply. On PostgreSQL the last completion row
    and the step's end are one statement."""
    finished: dict[str, Any] | None = None
    if not requests:
        finished = {"outcome": "succeeded", "summary": _reply_summary(step)}
    ended: bool | None = None
    last = len(requests) - 1
    for index, request in enumerate(requests):
        if index == 0 and first is not None and first.started.pk is not None:
            started, arguments, argument_error = first
        else:
            tool = tools.get(request.name)
            arguments, argument_error = _parse_arguments(tool, request)
            started = _log_started(run, step, request, tool, arguments)
        outcome = _tool_outcome(run, step, request, tools, started, arguments, argument_error)
        status, output, error, duration_ms = outcome
        completion = agent_services.tool_call_completion_row(
            started=started, status=status, output=output, error=error, duration_ms=duration_ms
        )
        if index == last and connection.vendor == "postgresql":
            ended = completion_ending_step(completion=completion, step=step)
        else:
            insert_rows([completion])
        if request.name in FINISHING_TOOLS and completion.status == ToolCall.Status.SUCCEEDED:
            finished = completion.output
    _end_step(run, step, finished, project_status=project_status, ended=ended)
    step.status = AgentStep.Status.DONE


def _first_call(
    run: AgentRun, step: AgentStep, request: ToolCallRequest | None, tool: Tool | None
) -> FirstCall | None:
    """On PostgreSQL, the reply's first call with its started row built, for the
    statement that stores the reply to insert (see _lock_run_and_store_reply)."""
    if request is None or connection.vendor != "postgresql":
        return None
    arguments, argument_error = _parse_arguments(tool, request)
    started = agent_services.tool_call_started_row(
        **_started_fields(run, step, request, tool, arguments)
    )
    return FirstCall(started, arguments, argument_error)


def _reply_summary(step: AgentStep) -> str:
    """How a reply without tool calls ends the run: its text, as the summary."""
    assert step.reply is not None
    return ChatMessage.from_openai(step.reply).content or "Finished without a summary."


MAX_CALL_ID_LENGTH = ToolCall._meta.get_field("call_id").max_length


def _storable(completion: Completion) -> Completion:
    """The model's reply as the step stores it, and later turns send back to the model.

    Each call gets an id the log can key it by: not empty, unique in the reply, and short
    enough to store; any other id is replaced (a repeated id would pass for the call
    before it and never run, and a long one would fail the step). NUL characters, which
    PostgreSQL cannot store, become U+FFFD in the text and the tools' names; in
    arguments they are escaped (as `\\u0000`), and the tool refuses them.
    """
    calls = [
        dataclasses.replace(
            call,
            id=without_nul(call.id),
            name=without_nul(call.name),
            # A raw NUL (the SDK decodes the JSON escapes of the wire) escaped again.
            arguments_json=call.arguments_json.replace(NUL, "\\u0000"),
        )
        for call in completion.tool_calls
    ]
    taken = {call.id for call in calls}
    used: set[str] = set()
    for index, call in enumerate(calls):
        call_id = call.id
        too_long = MAX_CALL_ID_LENGTH is not None and len(call_id) > MAX_CALL_ID_LENGTH
        if not call_id or call_id in used or too_long:
            call_id = f"call_{index}"
            while call_id in taken or call_id in used:
                call_id += "_"
            calls[index] = dataclasses.replace(call, id=call_id)
        used.add(call_id)
    content = None if completion.content is None else without_nul(completion.content)
    return dataclasses.replace(completion, content=content, tool_calls=tuple(calls))
