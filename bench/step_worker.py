"""The Celery worker that bench/agents.py starts to measure agent steps.

A plain worker (arguments as for `celery worker`), whose offline model answers at once:
each step asks for one tool call (`get_state`), and the run's step BENCH_STEPS_PER_RUN
calls `finish`. With LLM_PROVIDER=openai the same replies come from the loopback server
the benchmark runs instead.

It also runs `bench.step_floor`, the floor under any durable step: a task that commits
FLOOR_TRANSACTIONS transactions of one trivial statement and publishes the next step of
its chain, as an agent step does, and nothing else.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from agents.llm import (  # noqa: E402
    ChatRequest,
    OfflineReply,
    ToolCallRequest,
    register_offline_responder,
)
from agents.runtime.replies import STEP_PURPOSE  # noqa: E402
from config.celery import app  # noqa: E402

STEPS_PER_RUN = int(os.environ.get("BENCH_STEPS_PER_RUN", "10"))
# The fewest commits a step can make: the model's reply with its calls' "started" rows
# must be stored before a tool runs, and a tool's effects commit with its completion row.
FLOOR_TRANSACTIONS = 2


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


@app.task(name="bench.step_floor", acks_late=True, reject_on_worker_lost=True)
def step_floor(chain: int, number: int) -> None:
    """Step `number` of a chain of STEPS_PER_RUN: the floor under an agent step."""
    for _ in range(FLOOR_TRANSACTIONS):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    if number < STEPS_PER_RUN:
        step_floor.apply_async(args=(chain, number + 1), queue=settings.AGENT_QUEUE)


if __name__ == "__main__":
    app.worker_main(["worker", *sys.argv[1:]])
