"""A worker SIGKILLed while an agent's command runs: a new worker on the same host carries
the run on, the command is reported to the model as interrupted, and it never runs twice.
Also: a run's steps go to the queue of the host that holds its worktree."""

import os
import signal
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from agents.models import AgentRun, ToolCall
from agents.services import orchestrator, runs
from tests.celery_worker import spawn_worker, stop_worker, wait_for
from tests.factories import AgentFactory, TaskFactory
from tests.fakes.openai_server import completion, tool_call
from tests.gitrepos import checkout_fingerprint, make_repo

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_command_cut_short_by_a_dead_worker_is_reported_not_run_again(
    append_only_rows_cleared, fake_llm, project, settings, tmp_path
):
    queue = f"crash-{uuid.uuid4().hex[:10]}"
    host_queue = f"{queue}-host"
    settings.AGENT_QUEUE = queue
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    env = {
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": fake_llm.base_url,
        "LLM_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "0",
        "AGENT_QUEUE": queue,
        "WORKER_HOST_QUEUE": host_queue,
        "WORKSPACES_DIR": str(settings.WORKSPACES_DIR),
    }
    if django_settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["CELERY_BROKER_DIR"] = str(django_settings.BROKER_DIR)
    repo = make_repo(tmp_path / "repo")
    before = checkout_fingerprint(repo)
    counter, hold = tmp_path / "counter", tmp_path / "hold"
    hold.touch()
    # The command counts its runs outside the worktree, then waits for the test.
    script = f"echo run >> {counter}; while [ -e {hold} ]; do sleep 0.1; done"
    project.root_path = str(repo)
    project.enabled_tools = ["run_command"]
    project.allow_network = False
    project.save()
    TaskFactory(project=project, key="T1")
    AgentFactory(project=project, name="coder-1", type="coder")
    fake_llm.script(
        completion(
            None, tool_calls=[tool_call("c1", "run_command", {"argv": ["sh", "-c", script]})]
        ),
        completion(None, tool_calls=[tool_call("f1", "finish", {"summary": "checked"})]),
    )
    log = tmp_path / "workers.log"
    first = spawn_worker(queue, {**env, "AGENT_SANDBOX": "none"}, log)
    second = None
    try:
        [run] = orchestrator.project_run_start(project=project)
        wait_for(lambda: counter.exists(), first, log)
        run.refresh_from_db()
        assert run.worker_queue == host_queue  # its steps go to its worktree's host
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        hold.unlink()  # the orphaned command may end now

        second = spawn_worker(queue, {**env, "AGENT_SANDBOX": "none"}, log)
        assert runs.stale_runs_recover(now=timezone.now() + timedelta(days=1)) == 1
        ended = AgentRun.objects.filter(pk=run.pk, status="succeeded")
        wait_for(ended.exists, second, log)
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)

    assert counter.read_text() == "run\n"  # once, never again
    completion_row = ToolCall.objects.get(run=run, started__call_id="c1")
    assert completion_row.status == "failed" and completion_row.error.startswith("interrupted")
    told = fake_llm.requests[-1].json["messages"][-1]
    assert told["role"] == "tool" and "interrupted" in told["content"]
    assert checkout_fingerprint(repo) == before
