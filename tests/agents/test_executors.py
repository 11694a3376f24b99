"""Coding runs carried out by a coding CLI: a fake CLI (tests/fakes/coding_cli.py) that
prints each stream format and edits a file, and the real Codex against a loopback
Responses API server when `make tools` installed it."""

import os
import shutil
import stat
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from agents.models import AgentRun, DecisionLog, Metric, RunLogChunk, ToolCall
from agents.services import reviews, runs, verify
from agents.services.executors import executor_attempt_execute
from agents.workspaces import commands
from agents.workspaces.executors import executor_check, tools_bin_dir
from planning.models import Task
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    FeatureFactory,
    SubFeatureFactory,
    TaskFactory,
)
from tests.hang import HANG_S

FAKE_CLI = Path(__file__).resolve().parent.parent / "fakes" / "coding_cli.py"
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else "python3"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Owner")
    git(root, "config", "user.email", "owner@example.com")
    (root / "README.md").write_text("# Demo\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Start")
    return root


def make_worktree(repo: Path, tmp_path: Path) -> Path:
    path = tmp_path / "worktrees" / "run-1"
    git(repo, "worktree", "add", "-q", "-b", "crewboard/T-1-1", str(path), "main")
    return path


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_repo(tmp_path)


@pytest.fixture
def worktree(repo, tmp_path) -> Path:
    return make_worktree(repo, tmp_path)


@pytest.fixture
def cli_bin(settings, tmp_path) -> Path:
    """`make tools`' folder, holding the fake CLI under each real CLI's name."""
    settings.VAR_DIR = tmp_path / "var"
    settings.EXECUTOR_TIMEOUT_S = 60
    folder = tools_bin_dir()
    folder.mkdir(parents=True)
    fake = folder / "fake-cli.py"
    shutil.copy(FAKE_CLI, fake)
    for name, format in (("claude", "claude"), ("codex", "codex"), ("aider", "text")):
        shim = folder / name
        shim.write_text(f'#!/bin/sh\nexec {PYTHON} "{fake}" {format} "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return folder


def coding_run(project, repo, worktree, *, executor: str, command=None) -> AgentRun:
    project.root_path = str(repo)
    project.verify_command = "test -f hello.txt"
    project.save()
    sub_feature = SubFeatureFactory(
        feature=FeatureFactory(project=project),
        objective="People are greeted",
        must_haves={"truths": ["hello.txt"]},
    )
    task = TaskFactory(
        project=project,
        key="T-1",
        name="Say hello",
        description="Create hello.txt",
        sub_feature=sub_feature,
        feature=sub_feature.feature,
        done_criteria="hello.txt greets",
        status=Task.Status.IN_PROGRESS,
    )
    agent = AgentFactory(
        project=project,
        name="cli-coder",
        executor=executor,
        executor_command=command or [],
        status="busy",
        current_task=task,
    )
    task.assigned_agent = agent
    task.save()
    now = timezone.now()
    return AgentRunFactory(
        agent=agent,
        project=project,
        task=task,
        status=AgentRun.Status.RUNNING,
        stage=AgentRun.Stage.CODING,
        started_at=now,
        lease_expires_at=now + timedelta(minutes=10),
        worktree_path=str(worktree),
        branch_name="crewboard/T-1-1",
    )


def log_text(run: AgentRun) -> str:
    return "".join(
        RunLogChunk.objects.filter(run=run).order_by("seq").values_list("text", flat=True)
    )


@pytest.mark.django_db
def test_claude_code_edits_the_worktree_and_its_stream_lands_in_the_audit_trail(
    project, repo, worktree, cli_bin
):
    run = coding_run(project, repo, worktree, executor="claude-code")
    executor_attempt_execute(run_id=run.pk)
    run.refresh_from_db()
    # Exit 0: the coding is over and the checks come next.
    assert (run.status, run.stage) == (AgentRun.Status.RUNNING, AgentRun.Stage.VERIFYING)
    assert run.result["summary"] == "Wrote hello.txt"
    assert run.result["executor"] is None  # the attempt let go of the run
    assert (worktree / "hello.txt").read_text() == "hello\n"
    started = ToolCall.objects.get(run=run, started__isnull=True)
    assert (started.tool_name, started.call_id) == ("Write", "toolu_1")
    assert started.input == {"file_path": "hello.txt", "content": "hello\n"}
    assert (started.completion.status, started.completion.output) == ("succeeded", "File written")
    assert DecisionLog.objects.get(run=run).decision == "Writing hello.txt."
    usage = Metric.objects.get(run=run, type=Metric.Type.TOKEN_USAGE)
    assert usage.value == 220  # 50 + 150 cached + 20 out
    assert usage.metadata["cached_input_tokens"] == 150
    assert (usage.metadata["provider"], usage.metadata["model"]) == ("claude-code", "claude-fake")
    log = log_text(run)
    assert '"type": "result"' in log and "exited with code 0" in log
    assert "$ claude -p '<prompt>' --output-format stream-json --verbose" in log


@pytest.mark.django_db
def test_codex_stream_becomes_tool_calls_messages_and_usage(project, repo, worktree, cli_bin):
    run = coding_run(project, repo, worktree, executor="codex")
    executor_attempt_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.stage == AgentRun.Stage.VERIFYING
    assert run.result["summary"] == "Wrote hello.txt"
    calls = ToolCall.objects.filter(run=run, started__isnull=True).order_by("id")
    assert [(c.tool_name, c.completion.status) for c in calls] == [
        ("shell", "succeeded"),
        ("apply_patch", "succeeded"),
    ]
    usage = Metric.objects.get(run=run, type=Metric.Type.TOKEN_USAGE)
    assert (usage.value, usage.metadata["cached_input_tokens"]) == (1050, 400)


@pytest.mark.django_db
def test_the_prompt_file_carries_the_task_plan_and_checks(project, repo, worktree, cli_bin):
    run = coding_run(project, repo, worktree, executor="command", command=["cat", "{prompt_file}"])
    executor_attempt_execute(run_id=run.pk)
    log = log_text(run)
    for expected in (
        "# Task T-1: Say hello",
        "Create hello.txt",
        "test -f hello.txt",
        "Done when\n\nhello.txt greets",
        "Objective: People are greeted",
        "- truths: hello.txt",
        "Reporting back",
    ):
        assert expected in log
    run.refresh_from_db()
    # A plain-text command may print no events: its exit code speaks for it.
    assert run.stage == AgentRun.Stage.VERIFYING
    # The prompt is not part of the change.
    assert git(worktree, "status", "--porcelain") == ""


@pytest.mark.django_db
def test_command_template_fills_in_the_worktree(project, repo, worktree, cli_bin):
    run = coding_run(
        project,
        repo,
        worktree,
        executor="command",
        command=["sh", "-c", 'echo made > "$1/hello.txt"', "sh", "{worktree}"],
    )
    executor_attempt_execute(run_id=run.pk)
    assert (worktree / "hello.txt").read_text() == "made\n"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "env,expected",
    [
        ({"FAKE_CLI_EXIT": "3"}, "`codex` exited with code 3"),
        ({"FAKE_CLI_GARBAGE": "1"}, "`codex` printed none of the codex events expected of it"),
        ({"FAKE_CLI_HANG": "1"}, "`codex` did not finish within 1 s"),
    ],
)
def test_a_cli_that_fails_fails_the_run_with_the_reason_and_its_output(
    project, repo, worktree, cli_bin, monkeypatch, settings, env, expected
):
    settings.EXECUTOR_TIMEOUT_S = 1
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run = coding_run(project, repo, worktree, executor="codex")
    executor_attempt_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == AgentRun.Status.FAILED
    assert run.error.startswith(expected)
    assert "The end of its output:" in run.error
    if "GARBAGE" in str(env):
        assert "Segmentation fault" in run.error
    if "EXIT" in str(env):
        assert "told to fail with 3" in run.error
    assert run.task.status == Task.Status.FAILED


@pytest.mark.django_db
def test_a_claude_run_killed_midway_closes_its_open_calls(
    project, repo, worktree, cli_bin, monkeypatch, settings
):
    settings.EXECUTOR_TIMEOUT_S = 1
    monkeypatch.setenv("FAKE_CLI_HANG", "1")
    run = coding_run(project, repo, worktree, executor="claude-code")
    executor_attempt_execute(run_id=run.pk)
    started = ToolCall.objects.get(run=run, started__isnull=True)
    assert started.completion.status == "failed"
    assert started.completion.error == "the CLI ended before the call finished"
    # Usage seen before the end still counts (msg_1: 30 + 70 cached, 9 out).
    assert Metric.objects.get(run=run, type=Metric.Type.TOKEN_USAGE).value == 109


@pytest.mark.django_db
def test_a_missing_cli_fails_the_run_saying_so(project, repo, worktree, cli_bin):
    run = coding_run(project, repo, worktree, executor="opencode")
    assert executor_check("opencode") == (
        "`opencode` not found on PATH (install it: npm install -g opencode-ai)"
    )
    executor_attempt_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == AgentRun.Status.FAILED
    assert "`opencode` not found on PATH" in run.error


def test_executor_check():
    assert executor_check("builtin") is None
    assert executor_check("command", ["sh", "-c", "true"]) is None
    assert "needs a command" in executor_check("command", [])
    assert executor_check("command", ["/no/such/cli"]) == "`/no/such/cli` is not an executable file"
    assert executor_check("command", ["no-such-cli-here"]) == "`no-such-cli-here` not found on PATH"


@pytest.mark.django_db
def test_a_run_not_at_its_coding_stage_or_already_claimed_is_skipped(
    project, repo, worktree, cli_bin
):
    run = coding_run(project, repo, worktree, executor="claude-code")
    AgentRun.objects.filter(pk=run.pk).update(
        result={"executor": {"token": "x", "alive_at": timezone.now().timestamp()}}
    )
    assert executor_attempt_execute(run_id=run.pk) is None  # another delivery's CLI runs
    AgentRun.objects.filter(pk=run.pk).update(result={}, stage=AgentRun.Stage.VERIFYING)
    assert executor_attempt_execute(run_id=run.pk) is None
    assert not (worktree / "hello.txt").exists()
    assert not RunLogChunk.objects.filter(run=run).exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead, only not yet reaped by its parent.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


@pytest.mark.usefixtures("append_only_rows_cleared")
def test_cancelling_the_run_kills_the_cli_and_everything_it_started(
    project, repo, worktree, cli_bin, monkeypatch, settings, tmp_path
):
    settings.AGENT_SANDBOX = "none"  # the pids it writes are this machine's, not a sandbox's
    pids_file = tmp_path / "pids"
    monkeypatch.setenv("FAKE_CLI_HANG", "1")
    monkeypatch.setenv("FAKE_CLI_PIDS", str(pids_file))
    run = coding_run(project, repo, worktree, executor="codex")
    outcome: list[object] = []

    def execute() -> None:
        try:
            outcome.append(executor_attempt_execute(run_id=run.pk))
        finally:
            connection.close()

    worker = threading.Thread(target=execute)
    worker.start()
    deadline = time.monotonic() + HANG_S
    while not pids_file.exists() or not pids_file.read_text().endswith("\n"):
        assert time.monotonic() < deadline, "the fake CLI never started"
        time.sleep(0.05)
    pids = [int(pid) for pid in pids_file.read_text().split()]
    assert all(_alive(pid) for pid in pids)
    runs.run_cancel(run=AgentRun.objects.get(pk=run.pk), reason="stop it")
    worker.join(timeout=HANG_S)
    assert not worker.is_alive()
    assert outcome == [None]
    assert not any(_alive(pid) for pid in pids)
    run.refresh_from_db()
    assert (run.status, run.error) == (AgentRun.Status.CANCELLED, "stop it")
    assert "the run was cancelled" in log_text(run)


@pytest.mark.django_db
def test_the_celery_task_runs_the_attempt(project, repo, worktree, cli_bin):
    from agents.tasks import run_executor

    run = coding_run(project, repo, worktree, executor="claude-code")
    run_executor.apply(args=[run.pk]).get()
    run.refresh_from_db()
    assert run.stage == AgentRun.Stage.VERIFYING


def test_sandbox_is_reported():
    # The suite's other tests run confined wherever bubblewrap works here.
    assert commands.sandbox_available() in (True, False)


@pytest.mark.django_db
def test_a_persons_line_comments_reach_the_clis_follow_up_run(
    project, repo, worktree, cli_bin, user
):
    run = coding_run(project, repo, worktree, executor="command", command=["cat", "{prompt_file}"])
    project.verify_command = "true"
    project.status = "active"
    project.save()
    (worktree / "hello.txt").write_text("hi\n")
    executor_attempt_execute(run_id=run.pk)
    verify.verify_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.task.status) == ("succeeded", "review")

    reviews.review_submit(
        task=run.task,
        verdict="request_changes",
        body="Say it louder.",
        comments=[reviews.CommentInput(path="hello.txt", line=1, body="Use capitals: HI")],
        reviewer=user,
    )
    run.refresh_from_db()
    assert (run.status, run.stage) == ("running", "coding")
    before = len(log_text(run))
    executor_attempt_execute(run_id=run.pk)  # the follow-up run of the CLI

    follow_up = log_text(run)[before:]
    assert "Say it louder." in follow_up and "Use capitals: HI" in follow_up
    assert "hello.txt:1" in follow_up and "> hi" in follow_up
