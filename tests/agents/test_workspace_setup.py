"""A worktree's setup runs exactly once: logged as a tool call with a started and a
completion row, never run again blindly after a worker died in it, rerun only by a
logged decision from a clean worktree, and at most once so."""

import os
import signal
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from agents.models import AgentRun, DecisionLog, ToolCall, Workspace
from agents.services import coding, orchestrator, runs, workspaces
from agents.services.tool_calls import tool_call_complete, tool_call_start
from agents.services.workspace_setup import INTERRUPTED, SETUP_TOOL
from agents.services.workspaces import WorkspaceError
from tests.celery_worker import spawn_worker, stop_worker, wait_for
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory
from tests.fakes.openai_server import completion, tool_call
from tests.gitrepos import checkout_fingerprint, make_repo


@pytest.fixture
def coding_project(project, tmp_path, settings):
    settings.AGENT_SANDBOX = "none"  # the setup counts its runs outside the worktree
    project.root_path = str(make_repo(tmp_path / "repo"))
    project.save()
    return project


def preparing_run(project) -> AgentRun:
    task = TaskFactory(project=project, key="T1", status="in_progress")
    agent = AgentFactory(project=project, name="coder-1", type="coder", status="busy")
    return AgentRunFactory(
        project=project, agent=agent, task=task, status="running", stage="preparing"
    )


def setups(run: AgentRun) -> list[ToolCall]:
    return list(
        ToolCall.objects.filter(run=run, tool_name=SETUP_TOOL, started__isnull=True).order_by("pk")
    )


def interrupted_setup(run: AgentRun, path: Path) -> ToolCall:
    """What a worker that died mid-setup leaves: a started row, a half-set-up folder."""
    path.mkdir(parents=True)
    (path / "half-installed").write_text("partly\n")
    return tool_call_start(
        project=run.project,
        run=run,
        tool_name=SETUP_TOOL,
        call_id="setup-1",
        input={"command": run.project.setup_command, "worktree": str(path)},
    )


@pytest.mark.django_db
def test_the_setup_is_logged_as_a_started_and_completed_tool_call(coding_project, tmp_path):
    coding_project.setup_command = "echo ready"
    coding_project.save()
    run = preparing_run(coding_project)

    workspace = workspaces.workspace_create(run=run)

    [started] = setups(run)
    assert started.input["command"] == "echo ready"
    assert started.input["worktree"] == workspace.path
    assert started.completion.status == "succeeded"
    assert started.completion.output["exit_code"] == 0
    assert "ready" in started.completion.output["tail"]


@pytest.mark.django_db
def test_a_failed_setup_is_logged_with_its_reason(coding_project):
    coding_project.setup_command = "echo broken; exit 3"
    coding_project.save()
    run = preparing_run(coding_project)

    with pytest.raises(WorkspaceError, match="exited with 3"):
        workspaces.workspace_create(run=run)

    [started] = setups(run)
    assert started.completion.status == "failed"
    assert started.completion.error.startswith("exited with 3")


@pytest.mark.django_db
def test_an_interrupted_setup_is_rerun_from_a_clean_worktree_by_a_logged_decision(
    coding_project, tmp_path, settings
):
    counter = tmp_path / "counter"
    coding_project.setup_command = f"echo run >> {counter}"
    coding_project.save()
    run = preparing_run(coding_project)
    path = Path(settings.WORKSPACES_DIR) / coding_project.slug / str(run.pk)
    first = interrupted_setup(run, path)

    workspace = workspaces.workspace_create(run=run)

    first.refresh_from_db()
    assert first.completion.status == "failed" and first.completion.error == INTERRUPTED
    decision = DecisionLog.objects.get(run=run)
    assert decision.decision.startswith(f"Rerun the setup of run {run.pk} from a clean worktree")
    assert decision.reasoning["interrupted"] == [first.pk]
    assert not (Path(workspace.path) / "half-installed").exists()  # a clean worktree
    assert counter.read_text() == "run\n"
    assert [call.completion.status for call in setups(run)] == ["failed", "succeeded"]


@pytest.mark.django_db
def test_a_setup_interrupted_again_fails_the_run_instead_of_running_a_third_time(
    coding_project, tmp_path, settings
):
    counter = tmp_path / "counter"
    coding_project.setup_command = f"echo run >> {counter}"
    coding_project.save()
    run = preparing_run(coding_project)
    path = Path(settings.WORKSPACES_DIR) / coding_project.slug / str(run.pk)
    earlier = interrupted_setup(run, path)
    tool_call_complete(started=earlier, status="failed", error=INTERRUPTED)
    tool_call_start(
        project=coding_project,
        run=run,
        tool_name=SETUP_TOOL,
        call_id="setup-2",
        input={"command": coding_project.setup_command, "worktree": str(path)},
    )

    coding.run_prepare_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == "failed"
    assert "interrupted 2 times" in run.error and "Retry the task" in run.error
    assert not counter.exists()
    assert not path.exists()
    assert not DecisionLog.objects.filter(run=run, decision__startswith="Rerun").exists()


@pytest.mark.django_db
def test_a_setup_that_finished_before_its_worker_died_is_not_run_again(coding_project, tmp_path):
    counter = tmp_path / "counter"
    coding_project.setup_command = f"echo run >> {counter}"
    coding_project.save()
    run = preparing_run(coding_project)
    made = workspaces.workspace_create(run=run)
    # The worker died after the setup, before the worktree was recorded.
    Workspace.objects.filter(pk=made.pk).delete()

    again = workspaces.workspace_create(run=run)

    assert counter.read_text() == "run\n"
    assert (again.path, again.branch) == (made.path, made.branch)
    assert len(setups(run)) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_setup_leaves_it_to_a_logged_rerun_not_a_blind_one(
    append_only_rows_cleared, fake_llm, project, settings, tmp_path
):
    queue = f"setup-{uuid.uuid4().hex[:10]}"
    settings.AGENT_QUEUE = queue
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    env = {
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": fake_llm.base_url,
        "LLM_API_KEY": "sk-test",
        "LLM_MAX_RETRIES": "0",
        "AGENT_QUEUE": queue,
        "WORKER_HOST_QUEUE": f"{queue}-host",
        "WORKSPACES_DIR": str(settings.WORKSPACES_DIR),
        "AGENT_SANDBOX": "none",
    }
    if django_settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["CELERY_BROKER_DIR"] = str(django_settings.BROKER_DIR)
    repo = make_repo(tmp_path / "repo")
    before = checkout_fingerprint(repo)
    counter, hold = tmp_path / "counter", tmp_path / "hold"
    hold.touch()
    project.root_path = str(repo)
    # The setup counts its runs outside the worktree, marks the worktree, then waits.
    project.setup_command = (
        f"echo run >> {counter}; touch half-installed; while [ -e {hold} ]; do sleep 0.1; done"
    )
    project.save()
    TaskFactory(project=project, key="T1")
    AgentFactory(project=project, name="coder-1", type="coder")
    fake_llm.script(completion(None, tool_calls=[tool_call("f1", "finish", {"summary": "ok"})]))
    log = tmp_path / "workers.log"
    first = spawn_worker(queue, env, log)
    second = None
    try:
        [run] = orchestrator.project_run_start(project=project)
        wait_for(lambda: counter.exists(), first, log)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        hold.unlink()  # the rerun's setup may finish

        second = spawn_worker(queue, env, log)
        assert runs.stale_runs_recover(now=timezone.now() + timedelta(days=1)) == 1
        coding_stage = AgentRun.objects.filter(pk=run.pk).exclude(stage="preparing")
        wait_for(coding_stage.exists, second, log)
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)

    # Once by the dead worker, once more by the logged decision: never blindly.
    assert counter.read_text() == "run\nrun\n"
    interrupted, rerun = setups(run)
    assert interrupted.completion.error == INTERRUPTED
    assert rerun.completion.status == "succeeded"
    assert DecisionLog.objects.filter(run=run, decision__startswith="Rerun the setup").count() == 1
    assert checkout_fingerprint(repo) == before
