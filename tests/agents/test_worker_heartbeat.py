"""A worker's heartbeat on the run it carries out: a short lease, renewed apart from the
work, so that the run of a SIGKILLed worker is delivered again soon, by the sweep."""

import os
import signal
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings

from agents.models import AgentRun
from agents.services import orchestrator, runs
from tests.celery_worker import spawn_worker, stop_worker, wait_for
from tests.factories import AgentFactory, TaskFactory
from tests.fakes.openai_server import completion, tool_call

WORKER_LEASE_S = 2.0


def test_by_default_a_dead_workers_run_is_recovered_well_under_a_minute():
    sweep_every = django_settings.CELERY_BEAT_SCHEDULE["recover-stale-runs"]["schedule"]
    assert django_settings.AGENT_WORKER_LEASE_S + sweep_every <= 45
    assert django_settings.WORKER_HEARTBEAT_S * 2 <= django_settings.AGENT_WORKER_LEASE_S


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_sigkilled_workers_run_is_delivered_again_once_its_worker_lease_runs_out(
    append_only_rows_cleared, fake_llm, project, settings, tmp_path
):
    queue = f"heartbeat-{uuid.uuid4().hex[:10]}"
    settings.AGENT_QUEUE = queue
    env = {
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": fake_llm.base_url,
        "LLM_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "0",
        "LLM_TIMEOUT_S": "600",
        "AGENT_QUEUE": queue,
        "WORKER_HEARTBEAT_S": "0.2",
        "AGENT_WORKER_LEASE_S": str(WORKER_LEASE_S),
    }
    if django_settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["CELERY_BROKER_DIR"] = str(django_settings.BROKER_DIR)
    project.status = "active"
    project.save()
    TaskFactory(project=project, key="T1")
    AgentFactory(project=project, name="coder-1", type="coder")
    fake_llm.script(
        # The model takes its time: the worker is killed while it waits.
        completion("thinking", delay_s=600),
        completion(None, tool_calls=[tool_call("f1", "finish", {"summary": "done"})]),
    )
    log = tmp_path / "workers.log"
    first = spawn_worker(queue, env, log)
    second = None
    try:
        [run] = orchestrator.project_run_start(project=project)
        started_heartbeat = AgentRun.objects.get(pk=run.pk).heartbeat_at
        # The worker's heartbeat renews the run while the model call goes on.
        beating = AgentRun.objects.filter(pk=run.pk, heartbeat_at__gt=started_heartbeat)
        wait_for(lambda: len(fake_llm.requests) == 1 and beating.exists(), first, log)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()

        run.refresh_from_db()
        assert run.status == "running"
        # The lease the dead worker left is its short worker lease, not the queue's.
        assert run.lease_expires_at - run.heartbeat_at == timedelta(seconds=WORKER_LEASE_S)
        assert runs.stale_runs_recover(now=run.lease_expires_at - timedelta(seconds=1)) == 0
        second = spawn_worker(queue, env, log)
        assert runs.stale_runs_recover(now=run.lease_expires_at + timedelta(seconds=1)) == 1
        wait_for(AgentRun.objects.filter(pk=run.pk, status="succeeded").exists, second, log)
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
