"""LLM usage: what each model call cost, recorded as append-only metrics.

The LLM layer reports a call's tokens, latency and model on its `Completion` and
records nothing; whoever made the call records it here, with what it was for.
"""

from dataclasses import dataclass

from django.utils import timezone

from agents.llm import Completion
from agents.llm.pricing import cost_usd
from agents.models import Agent, AgentRun, Metric
from agents.services._common import _resolve_links
from core.db import insert_rows
from planning.models import Project, Task


@dataclass(frozen=True)
class UsageContext:
    """What a model call was for: the project, and the agent, run and task if any."""

    project: Project
    agent: Agent | None = None
    run: AgentRun | None = None
    task: Task | None = None
    purpose: str = ""


def usage_record(*, completion: Completion, context: UsageContext) -> list[Metric]:
    """Record a call's tokens, latency and cost (see llm_usage_record)."""
    return llm_usage_record(
        project=context.project,
        agent=context.agent,
        run=context.run,
        task=context.task,
        purpose=context.purpose,
        provider=completion.provider,
        model=completion.model,
        input_tokens=completion.usage.input_tokens,
        output_tokens=completion.usage.output_tokens,
        cached_input_tokens=completion.usage.cached_input_tokens,
        usage_reported=completion.usage.reported,
        latency_ms=completion.latency_ms,
        cost_usd=cost_usd(completion.model, completion.usage),
    )


def llm_usage_record(
    *,
    project: Project,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    latency_ms: float,
    cost_usd: float | None,
    usage_reported: bool = True,
    purpose: str = "",
    agent: Agent | None = None,
    run: AgentRun | None = None,
    task: Task | None = None,
) -> list[Metric]:
    """Record one LLM call as token_usage, latency and cost Metrics, in one insert.

    Cached tokens are a part of the input tokens and are not added to the total. A model
    without a price (`cost_usd` None) gets a cost of 0 marked `priced: false`. Raises
    DomainError for links into another project or a run of another agent.
    """
    agent, task = _resolve_links(project, agent=agent, run=run, task=task)
    call = {"model": model, "provider": provider, "purpose": purpose}
    tokens = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached_input_tokens,
        "usage_reported": usage_reported,
    }
    now = timezone.now()
    rows = [
        (Metric.Type.TOKEN_USAGE, input_tokens + output_tokens, {**tokens, **call}),
        (Metric.Type.LATENCY, latency_ms, call),
        (
            Metric.Type.COST,
            cost_usd or 0.0,
            {**call, "currency": "USD", "priced": cost_usd is not None},
        ),
    ]
    metrics = [
        Metric(
            project=project,
            agent=agent,
            run=run,
            task=task,
            type=type,
            value=value,
            metadata=metadata,
            recorded_at=now,
        )
        for type, value, metadata in rows
    ]
    insert_rows(metrics)  # every model call, so a prepared statement
    return metrics
