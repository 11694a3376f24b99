"""Token accounting: what a call cost, and recording it as Metric rows."""

from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.conf import settings

# The module, not the function: agents.services may itself import the LLM layer.
from agents import services

if TYPE_CHECKING:
    from agents.llm.base import Completion, Usage, UsageContext
    from agents.models import Metric

TOKENS_PER_PRICE_UNIT = 1_000_000


def price_for(model: str) -> Mapping[str, float] | None:
    """The LLM_PRICES entry for `model`, or None when it has none.

    Providers answer with dated snapshots of the model asked for ("gpt-4o-mini-2024-07-18"
    for "gpt-4o-mini"), so the longest entry that prefixes the name up to a dash also counts.
    """
    prices = settings.LLM_PRICES
    if model in prices:
        return prices[model]
    prefixes = [name for name in prices if model.startswith(f"{name}-")]
    return prices[max(prefixes, key=len)] if prefixes else None


def cost_usd(model: str, usage: "Usage") -> float | None:
    """The call's cost in USD, or None when the model has no price."""
    price = price_for(model)
    if price is None:
        return None
    cached = usage.cached_input_tokens
    cached_price = price.get("cached_input", price["input"])
    return (
        (usage.input_tokens - cached) * price["input"]
        + cached * cached_price
        + usage.output_tokens * price["output"]
    ) / TOKENS_PER_PRICE_UNIT


def usage_record(
    *, completion: "Completion", provider: str, context: "UsageContext"
) -> list["Metric"]:
    """Record a call's tokens, latency and cost. Raises DomainError for foreign links."""
    return services.llm_usage_record(
        project=context.project,
        agent=context.agent,
        run=context.run,
        task=context.task,
        purpose=context.purpose,
        provider=provider,
        model=completion.model,
        input_tokens=completion.usage.input_tokens,
        output_tokens=completion.usage.output_tokens,
        cached_input_tokens=completion.usage.cached_input_tokens,
        usage_reported=completion.usage.reported,
        latency_ms=completion.latency_ms,
        cost_usd=cost_usd(completion.model, completion.usage),
    )
