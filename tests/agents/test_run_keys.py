"""A coding CLI's run key: issued for its run, scoped to it, revoked when it ends.

The first test runs the `command` executor on a real worktree with a small script that
uses the key from its environment against a live server; the others use the test client.
"""

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.keys import RUN_KEY_PREFIX, agent_key_hash
from agents.models import AgentRun, DecisionLog, ToolCall
from agents.services import runs
from agents.services.executors import executor_attempt_execute
from memory.models import MemoryFact
from tests.agents.test_executors import PYTHON, coding_run, make_repo, make_worktree
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory

REPORTER = Path(__file__).resolve().parent.parent / "fakes" / "run_key_reporter.py"


def api(project, path: str) -> str:
    return f"/api/v1/projects/{project.slug}/{path}"


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {key}")
    return client


@pytest.fixture
def reporter_bin(settings, tmp_path) -> Path:
    """The reporter script where `make tools`' folder is: visible inside the sandbox."""
    settings.VAR_DIR = tmp_path / "var"
    settings.EXECUTOR_TIMEOUT_S = 120
    folder = settings.VAR_DIR / "tools" / "node_modules" / ".bin"
    folder.mkdir(parents=True)
    script = folder / "run-key-reporter.py"
    shutil.copy(REPORTER, script)
    return script


def test_a_command_executor_reports_with_its_run_key_and_nothing_more(
    append_only_rows_cleared, live_server, settings, project, tmp_path, reporter_bin
):
    settings.CREWBOARD_URL = live_server.url
    repo = make_repo(tmp_path)
    worktree = make_worktree(repo, tmp_path)
    run = coding_run(
        project,
        repo,
        worktree,
        executor="command",
        command=[PYTHON, str(reporter_bin), "{worktree}", "{prompt_file}"],
    )
    other = AgentRunFactory(project=project, agent=AgentFactory(project=project, name="x"))

    executor_attempt_execute(run_id=run.pk)

    seen = json.loads((worktree / "run-key-report.json").read_text())
    assert seen["env"]["url"] == live_server.url
    assert seen["env"]["project"] == project.slug
    assert seen["env"]["key"].startswith(RUN_KEY_PREFIX)
    assert seen["prompt_tells_how"] is True
    # What a run key may do.
    assert seen["plan"] == 200
    assert seen["task"] == 200
    assert seen["tool_calls"] == 201
    assert seen["decisions"] == 201
    assert seen["memory"] == 201
    # What it may not.
    assert seen["claim"] == 403
    assert seen["complete"] == 403
    assert seen["fail"] == 403
    assert seen["heartbeat"] == 403
    assert seen["task_status"] == 403
    assert seen["other_run"] == 403
    run.refresh_from_db()
    # Exit 0: on to the checks.
    assert (run.status, run.stage) == (AgentRun.Status.RUNNING, AgentRun.Stage.VERIFYING)
    started = ToolCall.objects.get(run=run, tool_name="pytest", started__isnull=True)
    assert started.completion.status == "succeeded"
    assert DecisionLog.objects.filter(run=run, decision="Keep the greeting short").exists()
    fact = MemoryFact.objects.get(subject="greeting")
    assert fact.body["learned"] == "hello.txt holds it"
    assert not ToolCall.objects.filter(run=other).exists()
    # Only a hash was ever stored, and it went when the CLI exited: the key no longer works.
    assert run.key_hash == ""
    late = key_client(seen["env"]["key"]).get(api(project, "agent/plan/"))
    assert late.status_code == 401


@pytest.fixture
def running_run(project):
    task = TaskFactory(project=project, key="T-1", status="in_progress")
    agent = AgentFactory(project=project, name="cli", executor="command", status="busy")
    now = timezone.now()
    return AgentRunFactory(
        project=project,
        agent=agent,
        task=task,
        status=AgentRun.Status.RUNNING,
        started_at=now,
        lease_expires_at=now + timedelta(minutes=10),
    )


def test_a_run_key_is_stored_as_its_hash_only(running_run):
    key = runs.run_key_issue(run=running_run)

    running_run.refresh_from_db()
    assert key.startswith(RUN_KEY_PREFIX)
    assert running_run.key_hash == agent_key_hash(key)
    assert key not in running_run.key_hash


def test_a_new_key_replaces_the_old_one(project, running_run):
    old = runs.run_key_issue(run=running_run)
    new = runs.run_key_issue(run=running_run)

    assert key_client(old).get(api(project, "agent/plan/")).status_code == 401
    assert key_client(new).get(api(project, "agent/plan/")).status_code == 200


def test_revoking_a_replaced_key_leaves_the_new_one_working(project, running_run):
    old = runs.run_key_issue(run=running_run)
    new = runs.run_key_issue(run=running_run)

    runs.run_key_revoke(run=running_run, key=old)

    assert key_client(new).get(api(project, "agent/plan/")).status_code == 200


@pytest.mark.parametrize("end", ["finish", "cancel"])
def test_a_run_key_stops_working_when_its_run_ends(project, running_run, end):
    key = runs.run_key_issue(run=running_run)
    client = key_client(key)
    assert client.get(api(project, "agent/plan/")).status_code == 200

    if end == "finish":
        runs.run_finish(run=running_run, succeeded=False, summary="", error="gave up")
    else:
        runs.run_cancel(run=running_run)

    refused = client.post(
        api(project, f"runs/{running_run.pk}/decisions/"), {"decision": "late"}, format="json"
    )
    assert refused.status_code == 401
    assert "only while its run is running" in refused.json()["detail"]
    assert not DecisionLog.objects.filter(run=running_run).exists()


def test_a_run_key_asks_a_person_for_its_own_run_only(project, running_run):
    client = key_client(runs.run_key_issue(run=running_run))
    other = AgentRunFactory(project=project, agent=running_run.agent, task=running_run.task)

    asked = client.post(
        api(project, f"runs/{running_run.pk}/questions/"),
        {"question": "Which greeting?", "options": ["hello", "hi"]},
        format="json",
    )
    elsewhere = client.post(
        api(project, f"runs/{other.pk}/questions/"), {"question": "Hm?"}, format="json"
    )

    assert asked.status_code == 201, asked.content
    assert elsewhere.status_code == 403
    assert "works for run" in elsewhere.json()["detail"]
    answer = client.get(api(project, f"agent/questions/{asked.json()['checkpoint']['key']}/"))
    assert answer.status_code == 200


def test_a_run_key_cannot_change_the_plan_or_claim(project, running_run):
    client = key_client(runs.run_key_issue(run=running_run))
    TaskFactory(project=project, key="T-2")

    attempts = {
        "claim": client.post(api(project, "tasks/claim/"), {}, format="json"),
        "add": client.post(api(project, "agent/tasks/"), {"name": "More"}, format="json"),
        "edit": client.patch(api(project, "agent/tasks/T-2/"), {"name": "X"}, format="json"),
        "generate": client.post(
            api(project, "agent/generate/"), {"requirements": "x"}, format="json"
        ),
        "state": client.put(api(project, "agent/state/k/"), {"value": 1}, format="json"),
    }

    assert {name: answer.status_code for name, answer in attempts.items()} == dict.fromkeys(
        attempts, 403
    )
    assert "cannot claim, finish or change work" in attempts["claim"].json()["detail"]


def test_a_run_key_opens_only_its_own_project(project, other_project, running_run):
    client = key_client(runs.run_key_issue(run=running_run))

    assert client.get(api(other_project, "agent/plan/")).status_code == 404
