"""`crewboard claim`, `done`, `fail` with an agent key, and `crewboard run`."""

import pytest

from agents import services
from agents.models import Agent, AgentRun
from planning.models import Project, Task
from tests.factories import AgentFactory, TaskFactory


@pytest.fixture
def agent_key(board):
    agent = AgentFactory(project=board, name="claude-1", type=Agent.Type.EXTERNAL)
    return services.agent_key_issue(agent=agent).key


def test_claim_then_done(crewboard, logged_in, agent_key, monkeypatch):
    nothing = crewboard("claim", "--agent-key", agent_key, "--json")
    assert (nothing.exit_code, nothing.stdout) == (3, "")
    assert nothing.stderr == "crewboard: Nothing is ready to claim in crewboard.\n"
    TaskFactory(project=logged_in, key="T1", name="Fix the bug")
    # The key from the environment, as an agent's shell would have it.
    monkeypatch.setenv("CREWBOARD_AGENT_KEY", agent_key)
    claimed = crewboard("claim", "--lease", "600", "--json")
    assert claimed.exit_code == 0, claimed.stderr
    answer = claimed.json()
    assert answer["task"]["key"] == "T1" and answer["run"]["attempt"] == 1
    run_id = answer["run"]["id"]
    stale = crewboard("done", run_id, "--attempt", "2")
    assert stale.exit_code == 1 and stale.stderr.endswith("(409)\n")
    finished = crewboard("done", run_id, "--attempt", "1", "--result", '{"commit": "3f2a9c1"}')
    assert finished.exit_code == 0, finished.stderr
    assert finished.stderr == f"Run {run_id} succeeded; T1 is done.\n"
    run = AgentRun.objects.get(pk=run_id)
    assert run.status == "succeeded" and run.result == {"commit": "3f2a9c1"}
    assert crewboard("done", run_id, "--attempt", "1", "--result", "[1]").exit_code == 2


def test_claim_then_fail(crewboard, logged_in, agent_key):
    TaskFactory(project=logged_in, key="T1")
    claimed = crewboard("claim", "--agent-key", agent_key)
    assert claimed.exit_code == 0
    assert "T1" in claimed.stdout and "Claimed as run" in claimed.stderr
    run = AgentRun.objects.get()
    failed = crewboard(
        "fail", run.pk, "--attempt", "1", "--error", "tests still red",
        "--agent-key", agent_key, "--json",
    )  # fmt: skip
    assert failed.exit_code == 0, failed.stderr
    assert (
        failed.json()["run"]["status"] == "failed" and failed.json()["task"]["status"] == "pending"
    )
    assert Task.objects.get(key="T1").status == "pending"


def test_a_bad_or_missing_agent_key_or_another_project_is_one_clear_line(
    crewboard, logged_in, agent_key, stranger_project
):
    missing = crewboard("claim")
    assert (missing.exit_code, missing.stderr) == (
        2,
        "crewboard: No agent key: pass --agent-key, or set CREWBOARD_AGENT_KEY.\n",
    )
    wrong = crewboard("claim", "--agent-key", "cbk_wrong")
    assert (wrong.exit_code, wrong.stderr) == (
        1,
        "crewboard: The agent key was refused (401): check --agent-key or CREWBOARD_AGENT_KEY.\n",
    )
    TaskFactory(project=stranger_project, key="T9")
    foreign = crewboard("claim", "--agent-key", agent_key, "--project", "bobs")
    assert foreign.exit_code == 1
    assert "No project 'bobs' for this agent key" in foreign.stderr
    assert not AgentRun.objects.exists()


def test_run_start_pause_cancel(crewboard, logged_in, stranger_project):
    no_agents = crewboard("run", "start")
    assert no_agents.exit_code == 1 and no_agents.stderr.startswith("crewboard: ")
    assert no_agents.stderr.count("\n") == 1
    paused = crewboard("run", "pause", "--json")
    assert paused.exit_code == 0, paused.stderr
    assert paused.json() == {"status": "paused", "started": [], "cancelled": 0}
    assert Project.objects.get(slug="crewboard").status == "paused"
    cancelled = crewboard("run", "cancel")
    assert (cancelled.exit_code, cancelled.stderr) == (0, "crewboard is paused.\n")
    assert crewboard("run", "pause", "--project", "bobs").exit_code == 1
    assert crewboard("run", "stop").exit_code == 2
