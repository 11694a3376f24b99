"""The Celery worker that bench/agents.py starts to measure agent steps.

A plain worker (arguments as for `celery worker`), whose offline model answers at once:
each step asks for one tool call (`get_state`), and the run's step BENCH_STEPS_PER_RUN
calls `finish`. With LLM_PROVIDER=openai the same replies come from the loopback server
the benchmark runs instead.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from agents.llm import (  # noqa: E402
    ChatRequest,
    OfflineReply,
    ToolCallRequest,
    register_offline_responder,
)
from agents.runtime import STEP_PURPOSE  # noqa: E402
from config.celery import app  # noqa: E402

STEPS_PER_RUN = int(os.environ.get("BENCH_STEPS_PER_RUN", "10"))


def scripted_call(step: int) -> tuple[str, str, str]:
    """(call id, tool, JSON arguments) the model asks for at `step` of a run."""
    if step >= STEPS_PER_RUN:
        return f"call-{step}", "finish", json.dumps({"summary": "Benchmark run done."})
    return f"call-{step}", "get_state", json.dumps({"namespace": "bench", "key": "k"})


def step_of(roles: list[str]) -> int:
    """The step a conversation is at: one more than the model's replies in it."""
    return 1 + roles.count("assistant")


def one_tool_call_per_step(request: ChatRequest) -> OfflineReply:
    call_id, name, arguments = scripted_call(step_of([m.role for m in request.messages]))
    return OfflineReply(
        tool_calls=(ToolCallRequest(id=call_id, name=name, arguments_json=arguments),)
    )


register_offline_responder(STEP_PURPOSE, one_tool_call_per_step)

if __name__ == "__main__":
    app.worker_main(["worker", *sys.argv[1:]])
