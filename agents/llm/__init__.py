"""The LLM layer: one interface (`LLMClient.complete`), two providers.

    client = get_llm_client()
    completion = client.complete(
        [ChatMessage.system("You plan software."), ChatMessage.user(text)],
        tools=[ToolSpec("get_task", "Read a task.", {"type": "object", "properties": {}})],
        purpose="plan_generate",
    )

`LLM_PROVIDER` picks the provider: "offline" (deterministic, no network; see
`agents.llm.offline` for plugging in replies) or "openai" (any OpenAI-compatible endpoint
at `LLM_BASE_URL`). Failures surface as `LLMError`.

A leaf: it takes and returns plain data and imports nothing of the project. The
completion carries its tokens, latency, provider and model; callers record them
(`agents.services.usage`).
"""

import functools

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from agents.llm.base import (
    ChatMessage,
    ChatRequest,
    Completion,
    LLMClient,
    LLMError,
    ToolCallRequest,
    ToolSpec,
    Usage,
    json_schema_format,
)
from agents.llm.offline import (
    OfflineClient,
    OfflineReply,
    Responder,
    register_offline_responder,
    unregister_offline_responder,
)
from agents.llm.openai_provider import OpenAIClient

PROVIDERS = ("offline", "openai")


@functools.lru_cache(maxsize=8)
def _openai_client(base_url: str, api_key: str, timeout_s: float, max_retries: int) -> OpenAIClient:
    # One per configuration and process: the SDK client keeps its HTTP connections open
    # between calls, which each agent step would otherwise pay to set up again.
    return OpenAIClient(
        base_url=base_url, api_key=api_key, timeout_s=timeout_s, max_retries=max_retries
    )


def get_llm_client(provider: str | None = None) -> LLMClient:
    """The client for `provider`, by default settings.LLM_PROVIDER.

    Raises ImproperlyConfigured for an unknown provider, or for "openai" with neither an
    API key nor a base URL (only OpenAI itself needs the key; local servers do not).
    """
    name = (provider or settings.LLM_PROVIDER).strip().lower()
    if name == "offline":
        return OfflineClient()
    if name == "openai":
        if not settings.LLM_API_KEY and not settings.LLM_BASE_URL:
            raise ImproperlyConfigured(
                "LLM_PROVIDER is openai but neither LLM_API_KEY nor LLM_BASE_URL is set. "
                "Set LLM_API_KEY for api.openai.com, or LLM_BASE_URL for another "
                "OpenAI-compatible server (vLLM, Ollama, llama.cpp, LiteLLM)."
            )
        return _openai_client(
            settings.LLM_BASE_URL,
            settings.LLM_API_KEY,
            settings.LLM_TIMEOUT_S,
            settings.LLM_MAX_RETRIES,
        )
    raise ImproperlyConfigured(
        f"LLM_PROVIDER is {name!r}; expected one of: {', '.join(PROVIDERS)}."
    )


__all__ = [
    "PROVIDERS",
    "ChatMessage",
    "ChatRequest",
    "Completion",
    "LLMClient",
    "LLMError",
    "OfflineClient",
    "OfflineReply",
    "OpenAIClient",
    "Responder",
    "ToolCallRequest",
    "ToolSpec",
    "Usage",
    "get_llm_client",
    "json_schema_format",
    "register_offline_responder",
    "unregister_offline_responder",
]
