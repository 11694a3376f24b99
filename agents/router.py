"""Which model an agent's step asks: the LLM router.

An agent's own `model` wins; then its role's model in `LLM_MODELS`; then `LLM_MODEL`.
A call that fails after the provider's own retries is tried once more with
`LLM_FALLBACK_MODEL`, when one is set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings

from agents.llm import ChatMessage, Completion, LLMClient, LLMError, ToolSpec
from agents.models import Agent

logger = logging.getLogger(__name__)


def model_for(agent: Agent) -> str:
    models: dict[str, str] = settings.LLM_MODELS
    return agent.model or models.get(agent.type) or settings.LLM_MODEL


def complete_for(
    client: LLMClient,
    agent: Agent,
    messages: Sequence[ChatMessage],
    *,
    tools: Sequence[ToolSpec],
    purpose: str,
) -> Completion:
    """Ask the agent's model; on an error, its fallback. Raises LLMError when both fail."""
    model = model_for(agent)
    try:
        return client.complete(messages, tools=tools, purpose=purpose, model=model)
    except LLMError as exc:
        fallback = settings.LLM_FALLBACK_MODEL
        if not fallback or fallback == model:
            raise
        logger.warning("Model %s failed (%s); trying the fallback %s", model, exc, fallback)
        return client.complete(messages, tools=tools, purpose=purpose, model=fallback)
