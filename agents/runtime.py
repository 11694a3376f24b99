"""The agent step loop.

A run is a sequence of steps; a step is one model call plus the tool calls it asks for,
carried out by one Celery task. Everything a step needs is in the database, so any
worker can pick a run up where it stopped:

- `(run, step number)` identifies a step (`AgentStep`). A redelivered step that is done
  does nothing.
- The model's reply is stored before any tool runs, so a retried step replays the same
  tool calls rather than asking the model again.
- Each tool call writes its "started" row, then runs the tool and writes its completion
  row in one transaction. A call whose completion exists is never run again (its stored
  output is reused). A worker killed while a low-risk tool runs rolls that tool's
  database work back, and the retry runs it once more. A medium- or high-risk call
  (files, commands, git) acts where no transaction reaches, so it runs outside one
  (holding no lock for the minutes a command may take), and one whose started row has
  no completion is never run again blindly: the model is told it was interrupted.
- Bad arguments from the model go back to it as a tool error; they never crash the run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agents import services as agent_services
from agents.conversation import History, conversation
from agents.llm import ChatMessage, Completion, ToolCallRequest, get_llm_client
from agents.models import Agent, AgentRun, AgentStep, ToolCall
from agents.router import complete_for
from agents.services import runs
from agents.services.usage import UsageContext, usage_record, usage_rows
from agents.statements import (
    AGENT_FIELDS,
    PROJECT_FIELDS,
    REPLY_FIELDS,
    STEP_FIELDS,
    TASK_FIELDS,
    TOOL_CALL_FIELDS,
    step_statements,
)
from agents.tools import Tool, ToolContext, ToolError, registry
from core.db import (
    commit_without_flush_wait,
    insert_rows,
    insert_statement,
    instance_from_row,
    prepared_cursor,
)
from core.errors import DomainError
from core.text import NUL, without_nul
from planning.models import Project, Task

logger = logging.getLogger(__name__)

STEP_PURPOSE = "agent_step"
FINISH = "finish"
# Tools whose success ends the run, as finish does (their output carries the outcome).
FINISHING_TOOLS = frozenset({FINISH, "review_submit"})


class StepSkipped(Exception):
    """The step is done already, the run is not running, or another worker holds it."""


def _claim_step(run_id: int, number: int) -> tuple[AgentRun, AgentStep, History | None]:
    """Count this delivery as an attempt of the step and renew the run's lease; returns
    the run (with its project, agent and task), the step, and on PostgreSQL what the
    steps before left (History).

    Every delivery of every step starts here. On PostgreSQL it is one prepared
    statement, its own transaction (runs.run_lease_renew_claiming_step). Elsewhere it
    is three (compiling querysets would cost more than running them): renewing the
    lease locks a running run and returns it, an upsert creates the step or counts the
    attempt of a running one, and one read brings the run's project, agent and task.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        claimed = runs.run_lease_renew_claiming_step(run_id=run_id, number=number, now=now)
        if claimed is None:
            raise StepSkipped(f"run {run_id} is not running, or its step {number} is over")
        run, rest = claimed
        step_end = len(STEP_FIELDS)
        step = instance_from_row(AgentStep, STEP_FIELDS, rest[:step_end])
        _attach_links(run, rest[step_end:-2])
        step.run = run
        return run, step, History.from_json(*rest[-2:])
    at = connection.ops.adapt_datetimefield_value(now)
    statements = step_statements(connection.vendor)
    with transaction.atomic(durable=True):
        # Bookkeeping that a redelivery redoes: no need to wait for the disk.
        commit_without_flush_wait()
        renewed = runs.run_lease_renew_for_step(run_id=run_id, number=number, now=now)
        if renewed is None:
            raise StepSkipped(f"run {run_id} is not running")
        run = renewed
        with prepared_cursor() as cursor:
            # Steps are only created under the run's lock, so no race to lose here.
            cursor.execute(statements.count_attempt, (run_id, number, at))
            if (step_row := cursor.fetchone()) is None:
                raise StepSkipped(f"step {number} of run {run_id} is not running")
            cursor.execute(statements.links, (run.task_id, run.project_id, run.agent_id))
            links = cursor.fetchone()
        step = instance_from_row(AgentStep, STEP_FIELDS, step_row)
        _attach_links(run, links)
        step.run = run
        return run, step, None


def _attach_links(run: AgentRun, links: Any) -> None:
    """Set the run's project, agent and task from a row of their columns (PROJECT_FIELDS,
    AGENT_FIELDS, TASK_FIELDS)."""
    project_end = len(PROJECT_FIELDS)
    agent_end = project_end + len(AGENT_FIELDS)
    run.project = instance_from_row(Project, PROJECT_FIELDS, links[:project_end])
    run.agent = instance_from_row(Agent, AGENT_FIELDS, links[project_end:agent_end])
    run.task = (
        None if run.task_id is None else instance_from_row(Task, TASK_FIELDS, links[agent_end:])
    )


def step_execute(*, run_id: int, number: int) -> AgentStep | None:
    """Carry out step `number` of a run; idempotent. Returns None when there was nothing
    to do. Raises LLMError when the model cannot be reached (the Celery task retries)."""
    try:
        run, step, history = _claim_step(run_id, number)
    except StepSkipped:
        return None
    if (unfinished := _unfinished_deliveries(run, step)) > settings.AGENT_STEP_MAX_RETRIES:
        runs.run_fail(
            run_id=run.pk,
            error=f"step {number}: {unfinished} deliveries ended without finishing it, the "
            "last without an error (its worker was killed, ran out of memory, or passed the "
            "time limit)",
        )
        return None
    tools = {t.name: t for t in registry.for_agent(run.project, run.agent.type)}
    started_calls: dict[str, ToolCall] = {}
    completed_calls: dict[str, ToolCall] = {}
    stored_now, first_started = (False, None)
    if step.reply is None:
        stored_now, first_started = _ask_model(run, step, tools, history)
        if stored_now and step.status == AgentStep.Status.DONE:
            return step  # the whole step committed with its reply
    if first_started is not None:
        started_calls[first_started.call_id] = first_started
    if not stored_now:
        # A replayed reply: some of its calls may have started, or finished, before.
        for call in ToolCall.objects.filter(
            run=run, step=step.number, started__isnull=True
        ).select_related("completion"):
            started_calls[call.call_id] = call
            if (completion := getattr(call, "completion", None)) is not None:
                completed_calls[call.call_id] = completion
    assert step.reply is not None  # stored by _ask_model, by this delivery or another
    reply = ChatMessage.from_openai(step.reply)
    finished: dict[str, Any] | None = None
    if not reply.tool_calls:
        finished = {"outcome": "succeeded", "summary": _reply_summary(step)}
        with transaction.atomic():
            _end_step(run, step, finished)
        return step
    last = len(reply.tool_calls) - 1
    ended = False
    for index, request in enumerate(reply.tool_calls):
        started = started_calls.get(request.id)
        completion_row = completed_calls.get(request.id)
        tool = tools.get(request.name)
        arguments, argument_error = _parse_arguments(tool, request)
        logged_now = started is not None and started is first_started and stored_now
        if completion_row is None and started is None:
            with transaction.atomic(durable=True):
                if _may_commit_without_flush_wait(tool):
                    commit_without_flush_wait()
                started = _log_started(run, step, request, tool, arguments)
            logged_now = True
        assert started is not None  # found, or logged above
        outside = tool is not None and _acts_outside(tool) and arguments is not None
        if completion_row is None and outside:
            assert tool is not None and arguments is not None
            completion_row = _run_outside_call(
                run, step, request, tool, started, arguments, logged_now=logged_now
            )
        # A low-risk tool's quick database work, its completion row and the step's end
        # commit together: one flush to disk a step. The run is locked first, in the
        # order cancel and pause lock it (the run, then the task).
        ended = index == last and _may_commit_without_flush_wait(tool)
        with transaction.atomic():
            project_status = _lock_run(run) if ended else None
            if completion_row is None:
                completion_row = _completion_after_lock(started, run_locked=ended)
                if completion_row is None:
                    completion_row = _run_tool_call(
                        run, step, request, tools, started, arguments, argument_error
                    )
            completed_calls[request.id] = completion_row
            if (
                request.name in FINISHING_TOOLS
                and completion_row.status == ToolCall.Status.SUCCEEDED
            ):
                finished = completion_row.output
            if ended:
                _end_step(run, step, finished, project_status=project_status)
    if not ended:
        with transaction.atomic():
            _end_step(run, step, finished)
    return step


def _unfinished_deliveries(run: AgentRun, step: AgentStep) -> int:
    """How many deliveries of the step came before this one (since a person last retried
    the run); none of them finished it. A step that raises is retried a limited number
    of times; this limits one whose worker dies every time, which the broker and the
    stale-run sweep would otherwise deliver forever."""
    at_retry = run.result.get(runs.ATTEMPTS_AT_RETRY) or {}
    earlier = at_retry.get("attempts", 0) if at_retry.get("step") == step.number else 0
    return step.attempts - 1 - earlier


def _completion_after_lock(started: ToolCall, *, run_locked: bool) -> ToolCall | None:
    """The call's completion row, if any, read inside the transaction that would run the
    call, after a lock that a duplicate delivery of the step running the same call holds
    until its completion commits: so the call never runs twice.

    The lock is the run's when the caller holds it already (every delivery takes the
    same path for a given call), otherwise the call's started row. The read is a
    statement of its own: a locking one reads from a snapshot taken before it waited.
    """
    statements = step_statements(connection.vendor)
    with prepared_cursor() as cursor:
        if not run_locked:
            cursor.execute(statements.lock_tool_call, (started.pk,))
        cursor.execute(statements.completion, (started.pk,))
        row = cursor.fetchone()
    return None if row is None else instance_from_row(ToolCall, TOOL_CALL_FIELDS, row)


INTERRUPTED = (
    "interrupted: the worker carrying out this call stopped before it finished, so it may "
    "have had some, all or none of its effect. It is not run again by itself: check the "
    "files (or the command's results) and decide what to do."
)


def _acts_outside(tool: Tool | None) -> bool:
    """Medium- and high-risk tools act outside the database (files, commands, git), where
    a transaction cannot roll a half-done call back."""
    return tool is not None and tool.risk != "low"


def _run_outside_call(
    run: AgentRun,
    step: AgentStep,
    request: ToolCallRequest,
    tool: Tool,
    started: ToolCall,
    arguments: dict[str, Any],
    *,
    logged_now: bool,
) -> ToolCall:
    """Carry out a call that acts outside the database (files, commands, git), outside
    any transaction: a command may take minutes, and no lock is held meanwhile.

    Its started row committed before it ran. One this delivery did not log belongs to an
    earlier delivery that never completed it (its worker died, or it is still running
    somewhere): the call is completed as interrupted instead, never run again. Should
    two deliveries race, the completion row inserted first stands, so the model is told
    one outcome.
    """
    if not logged_now:
        with transaction.atomic():
            existing = _completion_after_lock(started, run_locked=False)
            return existing or _interrupted(started)
    status, output, error, duration_ms = _call_tool(run, step, tool, started, arguments)
    with transaction.atomic():
        existing = _completion_after_lock(started, run_locked=False)
        if existing is not None:
            return existing
        return agent_services.tool_call_complete(
            started=started, status=status, output=output, error=error, duration_ms=duration_ms
        )


def _interrupted(started: ToolCall) -> ToolCall:
    """Complete a call that an earlier delivery started and never finished, without
    running it again: the model is told it was interrupted, and decides."""
    return agent_services.tool_call_complete(
        started=started, status=ToolCall.Status.FAILED, output=None, error=INTERRUPTED
    )


def _lock_run(run: AgentRun) -> str:
    """Lock the run, after its agent (the step may end the run, which frees the agent),
    and read what cancel and pause change: the run's status (set on `run`) and its
    project's, which is returned. The rest of the run is as the step loaded it."""
    statements = step_statements(connection.vendor)
    with prepared_cursor() as cursor:
        if statements.lock_agent_and_run is not None:
            cursor.execute(statements.lock_agent_and_run, (run.agent_id, run.pk))
        else:
            if connection.features.has_select_for_update:
                cursor.execute(statements.lock_agent, (run.agent_id,))
            cursor.execute(statements.lock_run, (run.pk,))
        run.status, project_status = cursor.fetchone()
    return str(project_status)


def _may_commit_without_flush_wait(tool: Tool | None) -> bool:
    """Low-risk tools only touch the database, where their effects commit with the
    completion row, a synchronous commit that flushes everything before it too. Riskier
    ones act outside it, so their "started" row must be on disk before they run."""
    return tool is None or tool.risk == "low"


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
                stored, project_status = _lock_run_and_store_reply(
                    run, step, message, completion, usage
                )
            else:
                if _may_commit_without_flush_wait(first_tool):
                    commit_without_flush_wait()  # a lost reply is asked for again
                stored = _store_reply_with_usage(step, message, completion, usage)
            if stored and whole_step:
                step.reply = message
                _carry_out_in_database(run, step, completion.tool_calls, tools, project_status)
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
) -> tuple[bool, str]:
    """_lock_run, then _store_reply_with_usage: whether the reply was stored, and the
    project's status. The run is locked first, in the order every path takes it (the
    step may end the run), so a duplicate delivery waits until this one has committed.
    On PostgreSQL one statement does it all."""
    statements = step_statements(connection.vendor)
    if statements.locked_run is None or statements.store_reply_locked is None:
        project_status = _lock_run(run)
        return _store_reply_with_usage(step, message, completion, usage), project_status
    metrics = usage_rows(completion=completion, context=usage)
    usage_insert = insert_statement(metrics)
    assert usage_insert is not None  # metrics insert in one statement
    usage_sql, usage_params = usage_insert
    reply = REPLY_FIELDS[1].get_db_prep_save(message, connection)
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
) -> None:
    """Log, run and complete each of a just-stored reply's calls, none of which acts
    outside the database, then end the step, all inside the caller's transaction, which
    stored the reply and holds the run locked (see _lock_run)."""
    finished: dict[str, Any] | None = None
    if not requests:
        finished = {"outcome": "succeeded", "summary": _reply_summary(step)}
    for request in requests:
        tool = tools.get(request.name)
        arguments, argument_error = _parse_arguments(tool, request)
        started = _log_started(run, step, request, tool, arguments)
        completion = _run_tool_call(run, step, request, tools, started, arguments, argument_error)
        if request.name in FINISHING_TOOLS and completion.status == ToolCall.Status.SUCCEEDED:
            finished = completion.output
    _end_step(run, step, finished, project_status=project_status)
    step.status = AgentStep.Status.DONE


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


def _parse_arguments(
    tool: Tool | None, request: ToolCallRequest
) -> tuple[dict[str, Any] | None, str]:
    """The call's arguments, or None and why they are unusable."""
    if tool is None:
        return None, ""
    try:
        return tool.parse_arguments(request.arguments_json), ""
    except ToolError as exc:
        return None, str(exc)


def _log_started(
    run: AgentRun,
    step: AgentStep,
    request: ToolCallRequest,
    tool: Tool | None,
    arguments: dict[str, Any] | None,
) -> ToolCall:
    """Log the call's "started" row (inside the caller's transaction, which commits
    before the tool runs)."""
    logged_input: Any = arguments
    if tool is not None and arguments is None:
        logged_input = {"raw_arguments": request.arguments_json}
    return agent_services.tool_call_start(
        project=run.project,
        run=run,
        step=step.number,
        call_id=request.id,
        tool_name=request.name[:100] or "(unnamed)",
        input=logged_input,
    )


def _run_tool_call(
    run: AgentRun,
    step: AgentStep,
    request: ToolCallRequest,
    tools: dict[str, Tool],
    started: ToolCall,
    arguments: dict[str, Any] | None,
    argument_error: str,
) -> ToolCall:
    """Run a tool that works in the database and log its completion row, inside the
    caller's transaction, so the tool's own database work and the row commit together.
    An unknown tool or unusable arguments complete the call as failed."""
    tool = tools.get(request.name)
    if tool is None:
        error = f"there is no tool {request.name!r}; use one of {', '.join(sorted(tools))}"
        outcome: tuple[str, Any, str, int] = (ToolCall.Status.FAILED, None, error, 0)
    elif arguments is None:
        outcome = (ToolCall.Status.FAILED, None, argument_error, 0)
    else:
        outcome = _call_tool(run, step, tool, started, arguments, in_transaction=True)
    status, output, error, duration_ms = outcome
    return agent_services.tool_call_complete(
        started=started, status=status, output=output, error=error, duration_ms=duration_ms
    )


def _call_tool(
    run: AgentRun,
    step: AgentStep,
    tool: Tool,
    started: ToolCall,
    arguments: dict[str, Any],
    *,
    in_transaction: bool = False,
) -> tuple[str, Any, str, int]:
    """Run the tool's handler: (status, output, error, duration in ms). A ToolError or a
    broken tool is reported to the model, never fatal. `in_transaction`: in a savepoint
    of its own, so the database work of a handler that fails is undone."""
    context = ToolContext(
        project=run.project,
        agent=run.agent,
        run=run,
        task=run.task,
        step=step.number,
        tool_call=started,
    )
    began = time.perf_counter()
    status, output, error = ToolCall.Status.SUCCEEDED, None, ""
    try:
        if in_transaction:
            with transaction.atomic():
                output = tool.handler(context, arguments)
        else:
            output = tool.handler(context, arguments)
    except ToolError as exc:
        status, error = ToolCall.Status.FAILED, str(exc)
    except DomainError as exc:
        status, error = ToolCall.Status.FAILED, exc.message
    except ValidationError as exc:
        # A value of the wrong shape: said per field, as the API would.
        status, error = ToolCall.Status.FAILED, _validation_message(exc)
    except Exception as exc:
        status, error = ToolCall.Status.FAILED, f"{type(exc).__name__}: {exc}"
    duration_ms = round((time.perf_counter() - began) * 1000)
    return status, without_nul(_json_safe(output)), without_nul(error), duration_ms


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _end_step(
    run: AgentRun,
    step: AgentStep,
    finished: dict[str, Any] | None,
    *,
    project_status: str | None = None,
) -> None:
    """Mark the step done and move the run on (inside the caller's transaction, which
    has locked the run with _lock_run when it passes `project_status`)."""
    if project_status is None:
        project_status = _lock_run(run)
    with prepared_cursor() as cursor:
        finished_at = connection.ops.adapt_datetimefield_value(timezone.now())
        cursor.execute(step_statements(connection.vendor).end_step, (finished_at, step.pk))
        ended = cursor.rowcount
    if ended and run.status == AgentRun.Status.RUNNING:
        runs.run_step_ended(
            run=run, number=step.number, finished=finished, project_status=project_status
        )
