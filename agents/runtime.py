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
  output is reused); a worker killed while a tool runs rolls that tool's database work
  back, and the retry runs it once more.
- Bad arguments from the model go back to it as a tool error; they never crash the run.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents import services as agent_services
from agents.llm import ChatMessage, ToolCallRequest, UsageContext, get_llm_client
from agents.models import AgentRun, AgentStep, ToolCall
from agents.tools import ToolContext, ToolError, registry

STEP_PURPOSE = "agent_step"
FINISH = "finish"

SYSTEM_PROMPT = """You are {name}, a {type} agent working on the project "{project}" under
Crewboard. Work on the task you are given using the tools offered. Record important
decisions with log_decision and what you learn with remember. When the work is done, or
cannot be done, call finish with a short summary."""


def initial_messages(run: AgentRun, goal: str) -> list[dict[str, Any]]:
    agent = run.agent
    system = SYSTEM_PROMPT.format(name=agent.name, type=agent.type, project=run.project.name)
    return [ChatMessage.system(system).to_openai(), ChatMessage.user(goal).to_openai()]


def task_goal(run: AgentRun) -> str:
    task = run.task
    if task is None:
        return run.payload.get("goal", "")
    parts = [f"Task {task.key}: {task.name}", task.description]
    if task.files:
        parts.append("Files: " + ", ".join(task.files))
    if task.verify:
        parts.append(f"Verify with: {task.verify}")
    if task.done_criteria:
        parts.append(f"Done when: {task.done_criteria}")
    return "\n\n".join(p for p in parts if p)


def conversation(run: AgentRun, *, before_step: int) -> list[ChatMessage]:
    """The messages the model sees at `before_step`: the opening, then each finished
    step's reply followed by its tool results (two queries)."""
    messages = [ChatMessage.from_openai(m) for m in run.payload.get("messages", [])]
    steps = list(run.steps.filter(number__lt=before_step, reply__isnull=False).order_by("number"))
    outputs = {
        (call.step, call.call_id): call
        for call in ToolCall.objects.filter(
            run=run, started__isnull=True, step__lt=before_step
        ).select_related("completion")
    }
    for step in steps:
        reply = ChatMessage.from_openai(step.reply)
        messages.append(reply)
        for request in reply.tool_calls:
            started = outputs.get((step.number, request.id))
            completion = getattr(started, "completion", None) if started else None
            messages.append(ChatMessage.tool(request.id, _tool_result_text(completion)))
    return messages


def _tool_result_text(completion: ToolCall | None) -> str:
    if completion is None:
        return "error: the tool call did not complete"
    if completion.status == ToolCall.Status.FAILED:
        return f"error: {completion.error}"
    return json.dumps(completion.output, ensure_ascii=False, default=str)


class StepSkipped(Exception):
    """The step is done already, the run is not running, or another worker holds it."""


def _claim_step(run_id: int, number: int) -> tuple[AgentRun, AgentStep]:
    with transaction.atomic():
        run = (
            AgentRun.objects.select_for_update(of=("self",))
            .select_related("project", "agent", "task")
            .get(pk=run_id)
        )
        if run.status != AgentRun.Status.RUNNING:
            raise StepSkipped(f"run {run_id} is {run.status}")
        step, _ = AgentStep.objects.get_or_create(run=run, number=number)
        if step.status != AgentStep.Status.RUNNING:
            raise StepSkipped(f"step {number} of run {run_id} is {step.status}")
        now = timezone.now()
        step.attempts += 1
        step.save(update_fields=["attempts"])
        run.heartbeat_at = now
        run.lease_expires_at = now + timedelta(seconds=settings.AGENT_LEASE_SECONDS)
        run.result = {**run.result, "step": number}
        run.save(update_fields=["heartbeat_at", "lease_expires_at", "result", "updated_at"])
        return run, step


def step_execute(*, run_id: int, number: int) -> AgentStep | None:
    """Carry out step `number` of a run; idempotent. Returns None when there was nothing
    to do. Raises LLMError when the model cannot be reached (the Celery task retries)."""
    try:
        run, step = _claim_step(run_id, number)
    except StepSkipped:
        return None
    tools = registry.for_project(run.project)
    if step.reply is None:
        completion = get_llm_client().complete(
            conversation(run, before_step=number),
            tools=[t.spec() for t in tools],
            context=UsageContext(
                project=run.project, agent=run.agent, run=run, task=run.task, purpose=STEP_PURPOSE
            ),
        )
        # First reply stored wins: a duplicate delivery running alongside uses the same one.
        AgentStep.objects.filter(pk=step.pk, reply__isnull=True).update(
            reply=completion.as_message().to_openai()
        )
        step.reply = AgentStep.objects.values_list("reply", flat=True).get(pk=step.pk)
    reply = ChatMessage.from_openai(step.reply)
    allowed = {t.name for t in tools}
    finished: dict[str, Any] | None = None
    for request in reply.tool_calls:
        completion_row = _execute_tool_call(run, step, request, allowed)
        if request.name == FINISH and completion_row.status == ToolCall.Status.SUCCEEDED:
            finished = completion_row.output
    if finished is None and not reply.tool_calls:
        finished = {
            "outcome": "succeeded",
            "summary": reply.content or "Finished without a summary.",
        }
    _end_step(run, step, finished)
    return step


def _execute_tool_call(
    run: AgentRun, step: AgentStep, request: ToolCallRequest, allowed: set[str]
) -> ToolCall:
    started = (
        ToolCall.objects.filter(run=run, step=step.number, call_id=request.id, started__isnull=True)
        .select_related("completion")
        .first()
    )
    existing = getattr(started, "completion", None) if started else None
    if existing is not None:
        return existing  # done in an earlier attempt: reuse, never run again
    tool = registry.get(request.name) if request.name in allowed else None
    try:
        arguments = tool.parse_arguments(request.arguments_json) if tool else None
        logged_input: Any = arguments
    except ToolError:
        arguments, logged_input = None, {"raw_arguments": request.arguments_json}
    if started is None:
        started = agent_services.tool_call_start(
            project=run.project,
            run=run,
            step=step.number,
            call_id=request.id,
            tool_name=request.name[:100] or "(unnamed)",
            input=logged_input,
        )
    context = ToolContext(
        project=run.project,
        agent=run.agent,
        run=run,
        task=run.task,
        step=step.number,
        tool_call=started,
    )
    began = time.perf_counter()
    # The tool's own database work and its completion row commit together.
    with transaction.atomic():
        status, output, error = ToolCall.Status.SUCCEEDED, None, ""
        try:
            if tool is None:
                raise ToolError(
                    f"there is no tool {request.name!r}; use one of {', '.join(sorted(allowed))}"
                )
            if arguments is None:
                arguments = tool.parse_arguments(request.arguments_json)
            with transaction.atomic():
                output = tool.handler(context, arguments)
        except ToolError as exc:
            status, error = ToolCall.Status.FAILED, str(exc)
        except Exception as exc:  # a broken tool is reported to the model, not fatal
            status, error = ToolCall.Status.FAILED, f"{type(exc).__name__}: {exc}"
        return agent_services.tool_call_complete(
            started=started,
            status=status,
            output=_json_safe(output),
            error=error,
            duration_ms=round((time.perf_counter() - began) * 1000),
        )


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _end_step(run: AgentRun, step: AgentStep, finished: dict[str, Any] | None) -> None:
    from agents.tasks import run_step

    with transaction.atomic():
        now = timezone.now()
        # Only the delivery that marks the step done moves the run on.
        ended = AgentStep.objects.filter(pk=step.pk, status=AgentStep.Status.RUNNING).update(
            status=AgentStep.Status.DONE, finished_at=now
        )
        if not ended:
            return
        run = (
            AgentRun.objects.select_for_update(of=("self",))
            .select_related("project", "task", "agent")
            .get(pk=run.pk)
        )
        if run.status != AgentRun.Status.RUNNING:
            return
        if finished is not None:
            outcome = finished.get("outcome", "succeeded")
            run_finish(
                run=run, succeeded=outcome == "succeeded", summary=finished.get("summary", "")
            )
        elif step.number >= run.payload.get("max_turns", settings.AGENT_MAX_TURNS):
            from agents.services.orchestrator import TURN_LIMIT

            run_finish(run=run, succeeded=False, summary="", error=TURN_LIMIT)
        elif run.project.status == run.project.Status.PAUSED:
            run.status = AgentRun.Status.QUEUED  # resumes at the next step
            run.result = {**run.result, "next_step": step.number + 1}
            run.save(update_fields=["status", "result", "updated_at"])
        else:
            number = step.number + 1
            transaction.on_commit(
                lambda: run_step.apply_async(args=[run.pk, number], queue=settings.AGENT_QUEUE)
            )


def run_finish(*, run: AgentRun, succeeded: bool, summary: str, error: str = "") -> AgentRun:
    """End a run (inside the caller's transaction), record its metrics, free its agent,
    move its task on, and let the orchestrator dispatch more work."""
    from agents.services.orchestrator import run_ended

    now = timezone.now()
    run.status = AgentRun.Status.SUCCEEDED if succeeded else AgentRun.Status.FAILED
    run.finished_at = now
    run.error = error or ("" if succeeded else summary)
    run.lease_expires_at = None
    run.result = {**run.result, "summary": summary}
    run.save(
        update_fields=["status", "finished_at", "error", "lease_expires_at", "result", "updated_at"]
    )
    agent_services.run_metrics_record(run=run)
    run_ended(run=run)
    return run
