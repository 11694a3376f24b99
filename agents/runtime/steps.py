"""A step of a run, from its claim to its end (see the package's docstring)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agents.conversation import History
from agents.llm import ChatMessage
from agents.models import AgentRun, AgentStep, ToolCall
from agents.runtime.calls import (
    FINISHING_TOOLS,
    _acts_outside,
    _completion_after_lock,
    _end_step,
    _lock_run,
    _log_started,
    _may_commit_without_flush_wait,
    _parse_arguments,
    _run_outside_call,
    _run_tool_call,
)
from agents.runtime.replies import _ask_model, _reply_summary
from agents.services import runs
from agents.statements import STEP_FIELDS, step_statements
from agents.tools import registry
from core.db import commit_without_flush_wait, instance_from_row, prepared_cursor


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
        runs.run_links_attach(run, rest[step_end:-2])
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
        runs.run_links_attach(run, links)
        step.run = run
        return run, step, None


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
