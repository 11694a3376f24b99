"""A step's tool calls: logged as started, run (in the database or outside it), and
completed exactly once; and the step's end, which moves the run on."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agents import services as agent_services
from agents.llm import ToolCallRequest
from agents.models import AgentRun, AgentStep, ToolCall
from agents.services import runs
from agents.statements import TOOL_CALL_FIELDS, step_statements
from agents.tools import Tool, ToolContext, ToolError
from core.db import instance_from_row, prepared_cursor
from core.errors import DomainError
from core.text import without_nul

FINISH = "finish"


# Tools whose success ends the run, as finish does (their output carries the outcome).
FINISHING_TOOLS = frozenset({FINISH, "review_submit"})


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
    return agent_services.tool_call_start(**_started_fields(run, step, request, tool, arguments))


def _started_fields(
    run: AgentRun,
    step: AgentStep,
    request: ToolCallRequest,
    tool: Tool | None,
    arguments: dict[str, Any] | None,
) -> dict[str, Any]:
    """What a call's "started" row records (tool_call_start's arguments)."""
    logged_input: Any = arguments
    if tool is not None and arguments is None:
        logged_input = {"raw_arguments": request.arguments_json}
    return {
        "project": run.project,
        "run": run,
        "step": step.number,
        "call_id": request.id,
        "tool_name": request.name[:100] or "(unnamed)",
        "input": logged_input,
    }


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
    status, output, error, duration_ms = _tool_outcome(
        run, step, request, tools, started, arguments, argument_error
    )
    return agent_services.tool_call_complete(
        started=started, status=status, output=output, error=error, duration_ms=duration_ms
    )


def _tool_outcome(
    run: AgentRun,
    step: AgentStep,
    request: ToolCallRequest,
    tools: dict[str, Tool],
    started: ToolCall,
    arguments: dict[str, Any] | None,
    argument_error: str,
) -> tuple[str, Any, str, int]:
    """_run_tool_call's outcome, (status, output, error, duration in ms), not yet
    logged."""
    tool = tools.get(request.name)
    if tool is None:
        error = f"there is no tool {request.name!r}; use one of {', '.join(sorted(tools))}"
        outcome: tuple[str, Any, str, int] = (ToolCall.Status.FAILED, None, error, 0)
    elif arguments is None:
        outcome = (ToolCall.Status.FAILED, None, argument_error, 0)
    else:
        outcome = _call_tool(run, step, tool, started, arguments, in_transaction=True)
    return outcome


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
    of its own, so the database work of a handler that fails is undone; a tool that
    only reads needs none (Tool.reads_only)."""
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
    savepoint = in_transaction and not tool.reads_only
    try:
        if savepoint:
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
    except DatabaseError as exc:
        if in_transaction and not savepoint:
            raise  # the transaction cannot go on: this delivery fails, and is retried
        status, error = ToolCall.Status.FAILED, f"{type(exc).__name__}: {exc}"
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
    ended: bool | None = None,
) -> None:
    """Mark the step done and move the run on (inside the caller's transaction, which
    has locked the run with _lock_run when it passes `project_status`). `ended`: the
    caller marked the step done already, and whether its statement did."""
    if project_status is None:
        project_status = _lock_run(run)
    if ended is None:
        with prepared_cursor() as cursor:
            finished_at = connection.ops.adapt_datetimefield_value(timezone.now())
            cursor.execute(step_statements(connection.vendor).end_step, (finished_at, step.pk))
            ended = bool(cursor.rowcount)
    if ended and run.status == AgentRun.Status.RUNNING:
        runs.run_step_ended(
            run=run, number=step.number, finished=finished, project_status=project_status
        )
