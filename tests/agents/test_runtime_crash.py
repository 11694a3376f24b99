"""A worker SIGKILLed in the middle of a step: a new worker finishes the run, and every
tool's effect happens exactly once. (A risky tool cut short, whose started row has
committed, is covered in test_runtime.)"""

import os
import signal
import uuid

import pytest
from django.conf import settings as django_settings

from agents.models import AgentRun, AgentState, AgentStep, ToolCall
from agents.services import runs
from tests.celery_worker import spawn_worker, stop_worker, wait_for
from tests.factories import AgentFactory, AgentRunFactory, ProjectFactory, TaskFactory
from tests.fakes.openai_server import completion, tool_call

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_killed_worker_leaves_each_tools_effect_exactly_once(
    append_only_rows_cleared, fake_llm, settings, tmp_path
):
    queue = f"crash-{uuid.uuid4().hex[:10]}"
    settings.AGENT_QUEUE = queue
    env = {
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": fake_llm.base_url,
        "LLM_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "0",
        "AGENT_TOOL_MODULES": "tests.agent_tools",
        "AGENT_QUEUE": queue,
    }
    if django_settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["CELERY_BROKER_DIR"] = str(django_settings.BROKER_DIR)
    hold, running = tmp_path / "hold-call-b", tmp_path / "call-b-running"
    hold.touch()
    held_b = {"name": "b", "hold_file": str(hold), "running_file": str(running)}
    # Both calls stay in the database, so they commit with the reply they came in: the
    # killed worker's step leaves nothing, and the model is asked again.
    fake_llm.script(
        *[
            completion(
                None,
                tool_calls=[
                    tool_call("call_a", "count_and_wait", {"name": "a"}),
                    tool_call("call_b", "count_and_wait", held_b),
                ],
            )
        ]
        * 2,
        completion(None, tool_calls=[tool_call("call_f", "finish", {"summary": "both counted"})]),
    )
    project = ProjectFactory()
    run = AgentRunFactory(
        project=project,
        agent=AgentFactory(project=project),
        task=TaskFactory(project=project),
    )
    log = tmp_path / "workers.log"
    first = spawn_worker(queue, env, log)
    second = None
    try:
        runs.run_start(run=run)  # enqueues step 1 on the test queue
        wait_for(running.exists, first, log)
        os.kill(first.pid, signal.SIGKILL)  # mid-step: call_a done, call_b in flight
        first.wait()
        hold.unlink()
        assert not ToolCall.objects.filter(run=run).exists()  # rolled back with the reply

        second = spawn_worker(queue, env, log)
        assert runs.stale_runs_recover(now=_far_future()) == 1
        finished = AgentRun.objects.filter(pk=run.pk, status="succeeded")
        wait_for(finished.exists, second, log)
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)

    counts = dict(AgentState.objects.filter(namespace="crash-test").values_list("key", "value"))
    assert counts == {"a": 1, "b": 1}  # each tool's effect exactly once
    for call_id in ("call_a", "call_b", "call_f"):
        started = ToolCall.objects.filter(run=run, call_id=call_id, started__isnull=True)
        assert started.count() == 1
        assert ToolCall.objects.filter(started__in=started).count() == 1
    assert AgentStep.objects.get(run=run, number=1).attempts == 2
    assert AgentStep.objects.get(run=run, number=2).attempts == 1
    assert len(fake_llm.requests) == 3  # step 1's reply was lost with its calls


def _far_future():
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() + timedelta(days=1)
