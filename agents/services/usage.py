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
from agents.services.logs import log_links, metric_row
from core.inserts import insert_rows
from planning.models import Project, Task


@dataclass(frozen=True)
class UsageContext:
    """What a model call was for: the project, and the agent, run and task if any."""

    project: Project
    agent: Agent | None = None
    run: AgentRun | None = None
    task: Task | None = None
    purpose: str = ""
    # The run's step the call was made for, so that a run's trace shows each step's cost.
    step: int | None = None


def usage_record(*, completion: Completion, context: UsageContext) -> list[Metric]:
    """Record one model call as token_usage, latency and cost Metrics, in one insert.

    Cached tokens are a part of the input tokens and are not added to the total. A model
    without a price gets a cost of 0 marked `priced: false`. The agent and task default
    to the run's. Raises DomainError for links into another project or a run of
    another agent.
    """
    metrics = usage_rows(completion=completion, context=context)
    insert_rows(metrics)  # every model call, so a prepared statement
    return metrics


def usage_rows(*, completion: Completion, context: UsageContext) -> list[Metric]:
    """The unsaved Metrics usage_record inserts, for a caller that inserts them with
    other rows. Raises DomainError as usage_record does."""
    agent, task = _resolve_links(
        context.project, agent=context.agent, run=context.run, task=context.task
    )
    links = log_links(context.project, agent, context.run, task)
    usage = completion.usage
    cost = cost_usd(completion.model, usage)
    call: dict[str, object] = {
        "model": completion.model,
        "provider": completion.provider,
        "purpose": context.purpose,
    }
    if context.step is not None:
        call["step"] = context.step
    tokens = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "usage_reported": usage.reported,
    }
    now = timezone.now()
    return [
        metric_row(links, type=type, value=value, metadata=metadata, at=now)
        for type, value, metadata in [
            (Metric.Type.TOKEN_USAGE, usage.total_tokens, {**tokens, **call}),
            (Metric.Type.LATENCY, completion.latency_ms, call),
            (
                Metric.Type.COST,
                cost or 0.0,
                {**call, "currency": "USD", "priced": cost is not None},
            ),
        ]
    ]
