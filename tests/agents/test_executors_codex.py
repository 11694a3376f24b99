"""The real Codex CLI (installed by `make tools`) as a run's executor, talking to a
loopback OpenAI Responses API server: it runs a shell command and applies a patch in
the run's worktree, and its events land in the audit trail."""

import os
from pathlib import Path

import pytest

from agents.models import AgentRun, Metric, ToolCall
from agents.services.executors import executor_attempt_execute
from agents.workspaces import commands
from agents.workspaces.executors import tools_bin_dir
from tests.agents.test_executors import coding_run, git, log_text, make_repo, make_worktree
from tests.fakes.responses_server import (
    API_KEY,
    API_KEY_ENV,
    FakeResponsesServer,
    apply_patch_call,
    codex_home,
    function_outputs,
    message,
    response,
    shell_call,
    user_text,
)

PATCH = "*** Begin Patch\n*** Add File: greeting.txt\n+Hello from Codex\n*** End Patch\n"


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_repo(tmp_path)


@pytest.fixture
def worktree(repo, tmp_path) -> Path:
    return make_worktree(repo, tmp_path)


@pytest.fixture
def codex() -> Path:
    program = tools_bin_dir() / "codex"
    if not program.exists():
        pytest.skip("Codex is not installed under var/tools (run `make tools`)")
    return program


@pytest.mark.django_db
@pytest.mark.parametrize("sandbox", ["none", "auto"])
def test_codex_edits_the_worktree_through_the_responses_api(
    project, repo, worktree, codex, tmp_path, monkeypatch, settings, sandbox
):
    settings.AGENT_SANDBOX = sandbox
    if sandbox == "auto" and not commands.sandbox_available():
        pytest.skip("bubblewrap is not usable here")
    settings.EXECUTOR_TIMEOUT_S = 120
    with FakeResponsesServer() as server:
        server.script(
            response(shell_call("printf 'hi\\n' > hello.txt", call_id="call_1")),
            response(apply_patch_call(PATCH, call_id="call_2"), usage=(300, 30, 100)),
            response(message("Added hello.txt and greeting.txt"), usage=(400, 10, 300)),
        )
        monkeypatch.setenv(
            "CODEX_HOME", str(codex_home(tmp_path / "codex", base_url=server.base_url))
        )
        monkeypatch.setenv(API_KEY_ENV, API_KEY)
        # Unconfined, Codex sandboxes its commands itself, and will not set that up with
        # its home under the temporary folder (where tmp_path is).
        monkeypatch.setenv("TMPDIR", "/var/tmp" if os.path.isdir("/var/tmp") else "/")
        run = coding_run(project, repo, worktree, executor="codex")
        executor_attempt_execute(run_id=run.pk)
        requests = list(server.requests)
    run.refresh_from_db()
    log = log_text(run)
    assert run.stage == AgentRun.Stage.VERIFYING, (run.error, log[-3000:])
    assert (worktree / "hello.txt").read_text() == "hi\n"
    assert (worktree / "greeting.txt").read_text() == "Hello from Codex\n"
    assert run.result["summary"] == "Added hello.txt and greeting.txt"
    # Codex was given the task's prompt, and sent the command's outcome back.
    assert len(requests) == 3
    assert requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert "# Task T-1: Say hello" in user_text(requests[0])
    assert "exited with code 0" in function_outputs(requests[1])["call_1"]
    calls = ToolCall.objects.filter(run=run, started__isnull=True).order_by("id")
    assert [(call.tool_name, call.completion.status) for call in calls] == [
        ("shell", "succeeded"),
        ("apply_patch", "succeeded"),
    ]
    usage = Metric.objects.get(run=run, type=Metric.Type.TOKEN_USAGE)
    assert usage.metadata["input_tokens"] == 800  # the turn's three calls
    assert usage.metadata["cached_input_tokens"] == 440
    assert usage.metadata["provider"] == "codex"
    # Nothing of Crewboard's is left in the change.
    assert set(git(worktree, "status", "--porcelain").split()) == {
        "??",
        "hello.txt",
        "greeting.txt",
    }
