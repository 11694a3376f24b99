"""The rows an agent run leaves behind (steps, tool calls, decisions and token use),
written directly so the page tests control every one of them."""

from datetime import datetime, timedelta

from django.utils import timezone

from agents.models import AgentRun, AgentStep, DecisionLog, Metric, ToolCall
from planning.models import Project
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory


def reply(content: str, *calls: tuple[str, str, str]) -> dict:
    """An OpenAI-shaped assistant message asking for (call id, tool, arguments) calls."""
    message: dict = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
            for cid, name, args in calls
        ]
    return message


def tool_call(
    run: AgentRun,
    step: int | None,
    call_id: str,
    name: str,
    input: dict,
    at: datetime | None = None,
    **completion: object,
) -> ToolCall:
    """A started row (made `at` a moment, or now) and, when `completion` is given, its
    completion row (append-only)."""
    started = ToolCall.objects.create(
        created_at=at or timezone.now(),
        project=run.project,
        agent=run.agent,
        run=run,
        task_id=run.task_id,
        step=step,
        call_id=call_id,
        tool_name=name,
        input=input,
    )
    if completion:
        ToolCall.objects.create(
            project=run.project,
            agent=run.agent,
            run=run,
            task_id=run.task_id,
            started=started,
            tool_name=name,
            **completion,
        )
    return started


def token_use(
    run: AgentRun, *, input_tokens: int, output_tokens: int, cost: float, **kw: object
) -> None:
    metadata = {
        "model": kw.pop("model", "gpt-test"),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": kw.pop("cached", 0),
    }
    step = kw.pop("step", None)
    if step is not None:
        metadata["step"] = step
    at = kw.pop("recorded_at", timezone.now())
    agent = kw.pop("agent", run.agent)
    Metric.objects.create(
        project=run.project,
        agent=agent,
        run=run,
        type=Metric.Type.TOKEN_USAGE,
        value=input_tokens + output_tokens,
        metadata=metadata,
        recorded_at=at,
    )
    Metric.objects.create(
        project=run.project,
        agent=agent,
        run=run,
        type=Metric.Type.COST,
        value=cost,
        metadata={
            "model": metadata["model"],
            "currency": "USD",
            "priced": True,
            **({"step": step} if step is not None else {}),
        },
        recorded_at=at,
    )


def build_run(project: Project, *, steps: int, status: str = "succeeded", **kw: object) -> AgentRun:
    """A run of `steps` finished steps, each with a reply, two tool calls (one succeeded,
    one failed), a decision and token use."""
    agent = kw.pop("agent", None) or AgentFactory(project=project)
    task = kw.pop("task", None) or TaskFactory(project=project)
    now = timezone.now()
    ended = status not in ("queued", "running")
    run = AgentRunFactory(
        agent=agent,
        task=task,
        status=status,
        started_at=now - timedelta(minutes=5),
        finished_at=now if ended else None,
        **kw,
    )
    for n in range(1, steps + 1):
        AgentStep.objects.create(
            run=run,
            number=n,
            status=AgentStep.Status.DONE,
            attempts=1,
            reply=reply(
                f"Thinking about step {n}",
                (f"c{n}a", "get_task", '{"key": "T1"}'),
                (f"c{n}b", "set_state", '{"key": "k"}'),
            ),
            finished_at=now,
        )
        tool_call(
            run,
            n,
            f"c{n}a",
            "get_task",
            {"key": "T1"},
            status="succeeded",
            output={"name": f"output of step {n}"},
            duration_ms=12,
        )
        tool_call(
            run,
            n,
            f"c{n}b",
            "set_state",
            {"key": "k"},
            status="failed",
            error=f"state is read-only in step {n}",
            duration_ms=3,
        )
        DecisionLog.objects.create(
            project=project, agent=agent, run=run, decision=f"decided in step {n}"
        )
        token_use(run, input_tokens=100, output_tokens=20, cost=0.001, cached=40)
    return run
