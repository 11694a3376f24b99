"""What a call cost: prices per model (settings.LLM_PRICES) applied to its tokens."""

from collections.abc import Mapping

from django.conf import settings

from agents.llm.base import Usage

TOKENS_PER_PRICE_UNIT = 1_000_000


def price_for(model: str) -> Mapping[str, float] | None:
    """The LLM_PRICES entry for `model`, or None when it has none.

    Providers answer with dated snapshots of the model asked for ("gpt-4o-mini-2024-07-18"
    for "gpt-4o-mini"), so the longest entry that prefixes the name up to a dash also counts.
    """
    prices: Mapping[str, Mapping[str, float]] = settings.LLM_PRICES
    if model in prices:
        return prices[model]
    prefixes = [name for name in prices if model.startswith(f"{name}-")]
    return prices[max(prefixes, key=len)] if prefixes else None


def cost_usd(model: str, usage: Usage) -> float | None:
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
