"""The audit trail's tool calls: a call's "started" row, then its completion row.

The logs are append-only in the database (see agents/services/logs.py), so a tool call is
finished by inserting a second row that points at the first; the agent step takes the rows
unsaved and inserts them in its own statements (agents/step_writes.py).
"""

from typing import Any

from agents.models import Agent, AgentRun, ToolCall
from agents.services._common import _check_loaded_row, _insert_once, _resolve_links
from core.errors import DomainError
from planning.models import Project, Task


def tool_call_start(
    *,
    project: Project,
    tool_name: str,
    input: Any = None,
    agent: Agent | None = None,
    run: AgentRun | None = None,
    task: Task | None = None,
    step: int | None = None,
    call_id: str = "",
) -> ToolCall:
    """Log the start of a tool call (the "started" row); `step` and `call_id` tie it to
    the model reply that asked for it.

    The agent and task default to the run's. Raises DomainError for links into another
    project or a run of another agent.
    """
    call = tool_call_started_row(
        project=project,
        tool_name=tool_name,
        input=input,
        agent=agent,
        run=run,
        task=task,
        step=step,
        call_id=call_id,
    )
    _insert_once(
        call, conflict=f"Tool call {call_id!r} of step {step} is already logged.", checked=True
    )
    return call


def tool_call_started_row(
    *,
    project: Project,
    tool_name: str,
    input: Any = None,
    agent: Agent | None = None,
    run: AgentRun | None = None,
    task: Task | None = None,
    step: int | None = None,
    call_id: str = "",
) -> ToolCall:
    """The "started" row tool_call_start inserts, checked but not saved: for the agent
    step, which inserts it in the statement that stores the model's reply. Raises as
    tool_call_start does, and ValidationError for a value that does not fit its field.
    """
    agent, task = _resolve_links(project, agent=agent, run=run, task=task)
    if not tool_name:
        raise DomainError("A tool call names its tool.", field="tool_name")
    call = ToolCall(
        project=project,
        agent=agent,
        run=run,
        task=task,
        tool_name=tool_name,
        input={} if input is None else input,
        step=step,
        call_id=call_id,
    )
    _check_loaded_row(call)
    return call


def tool_call_complete(
    *,
    started: ToolCall,
    status: str,
    output: Any = None,
    error: str = "",
    duration_ms: int | None = None,
) -> ToolCall:
    """Log how a tool call ended by inserting its completion row.

    Raises DomainError when `started` is itself a completion row, and ConflictError when
    the call already has a completion (the database's one-to-one decides a race).
    """
    completion = tool_call_completion_row(
        started=started, status=status, output=output, error=error, duration_ms=duration_ms
    )
    _insert_once(completion, conflict=f"Tool call {started.pk} is already complete.", checked=True)
    return completion


def tool_call_completion_row(
    *,
    started: ToolCall,
    status: str,
    output: Any = None,
    error: str = "",
    duration_ms: int | None = None,
) -> ToolCall:
    """The completion row tool_call_complete inserts, checked but not saved: for the
    agent step, which inserts it in the statement that ends the step. Raises DomainError
    when `started` is itself a completion row, ValidationError for a value that does not
    fit its field."""
    if started.is_completion:
        raise DomainError(f"Tool call {started.pk} is a completion row, not a started call.")
    completion = ToolCall(
        project_id=started.project_id,
        agent_id=started.agent_id,
        run_id=started.run_id,
        task_id=started.task_id,
        started=started,
        tool_name=started.tool_name,
        status=status,
        output=output,
        error=error,
        duration_ms=duration_ms,
    )
    _check_loaded_row(completion)
    return completion
