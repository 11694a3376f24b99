"""The sandboxed command runner, on real processes (and real bubblewrap where present)."""

import os
import shutil
import socket
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest

from agents.workspaces import commands
from agents.workspaces.commands import (
    SandboxError,
    command_environment,
    command_run,
    sandbox_available,
    shell_argv,
)
from tests.hang import HANG_S

# Inside the sandbox /tmp is a fresh tmpfs, so the suite's own .venv (under /tmp in
# worktrees) may be invisible there: sandboxed tests use the system's interpreter.
PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "python3"

needs_bwrap = pytest.mark.skipif(
    not commands._bwrap_usable(), reason="bwrap not installed (or unusable on this host)"
)


def alive(pid: int) -> bool:
    """Whether `pid` runs: a zombie waiting for a reaper counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_gone(pid: int, within_s: float = HANG_S) -> bool:
    """An upper bound for a hang, not a speed check: SIGKILL lands asynchronously."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def grandchild_script(pid_file: Path) -> str:
    # The grandchild ignores SIGTERM, so only the SIGKILL that follows ends it.
    return f"trap '' TERM; sleep 300 & echo $! > {pid_file}; echo started; wait"


@pytest.fixture
def no_sandbox(settings):
    settings.AGENT_SANDBOX = "none"


@pytest.fixture
def worktree(tmp_path) -> Path:
    path = tmp_path / "worktree"
    path.mkdir()
    return path


def test_streams_both_outputs_and_reports_the_exit_code(worktree, no_sandbox):
    seen: list[tuple[str, str]] = []
    result = command_run(
        shell_argv("echo out; echo err >&2; exit 3"),
        cwd=worktree,
        timeout_s=60,
        allow_network=False,
        on_output=lambda stream, text: seen.append((stream, text)),
    )
    assert result.exit_code == 3 and not result.succeeded
    assert not (result.timed_out or result.cancelled or result.truncated or result.confined)
    assert ("stdout", "out\n") in seen and ("stderr", "err\n") in seen
    assert "out\n" in result.output_tail and "err\n" in result.output_tail
    assert result.output_bytes == len("out\nerr\n")
    assert result.argv == ("/bin/sh", "-c", "echo out; echo err >&2; exit 3")


@pytest.mark.parametrize("sandbox", ["none", "bwrap"])
def test_timeout_kills_the_whole_group_even_a_grandchild_ignoring_sigterm(
    worktree, settings, sandbox
):
    if sandbox == "bwrap" and not commands._bwrap_usable():
        pytest.skip("bwrap not installed (or unusable on this host)")
    settings.AGENT_SANDBOX = sandbox
    pid_file = worktree / "grandchild.pid"
    result = command_run(
        shell_argv(grandchild_script(pid_file)),
        cwd=worktree,
        timeout_s=1,
        allow_network=False,
        writable=[worktree],
    )
    assert result.timed_out and result.exit_code is None and not result.cancelled
    assert result.confined is (sandbox == "bwrap")
    assert "started" in result.output_tail
    if sandbox == "none":  # inside bwrap the pid is the sandbox's own pid namespace
        assert wait_gone(int(pid_file.read_text()))
    else:
        assert pid_file.exists()


def test_cancel_ends_the_command_and_its_children(worktree, no_sandbox):
    pid_file = worktree / "grandchild.pid"
    started: list[str] = []
    result = command_run(
        shell_argv(grandchild_script(pid_file)),
        cwd=worktree,
        timeout_s=120,
        allow_network=False,
        on_output=lambda stream, text: started.append(text),
        should_cancel=lambda: bool(started),
    )
    assert result.cancelled and not result.timed_out and result.exit_code is None
    assert wait_gone(int(pid_file.read_text()))


def test_background_children_do_not_outlive_a_finished_command(worktree, no_sandbox):
    pid_file = worktree / "daemon.pid"
    # The daemon keeps stdout open: without killing the group the read would never end.
    result = command_run(
        shell_argv(f"sleep 300 & echo $! > {pid_file}; echo done"),
        cwd=worktree,
        timeout_s=120,
        allow_network=False,
    )
    assert result.exit_code == 0 and result.output_tail == "done\n"
    assert wait_gone(int(pid_file.read_text()))


def test_a_failing_output_callback_still_leaves_nothing_running(worktree, no_sandbox):
    pid_file = worktree / "grandchild.pid"

    def explode(stream: str, text: str) -> None:
        raise RuntimeError("log store down")

    with pytest.raises(RuntimeError, match="log store down"):
        command_run(
            shell_argv(grandchild_script(pid_file)),
            cwd=worktree,
            timeout_s=120,
            allow_network=False,
            on_output=explode,
        )
    assert wait_gone(int(pid_file.read_text()))


def test_huge_output_keeps_the_tail_in_bounded_memory(worktree, no_sandbox):
    total = 40 * 1024 * 1024
    script = (
        "import sys\n"
        "w = sys.stdout.buffer.write\n"
        f"for _ in range({total // 1024 - 1}): w(b'x' * 1023 + b'\\n')\n"
        "w(b'y' * 1014 + b'y' + b'THE END!\\n')\n"
    )
    cap = 100_000
    tracemalloc.start()
    try:
        result = command_run(
            [PYTHON, "-c", script],
            cwd=worktree,
            timeout_s=300,
            allow_network=False,
            max_output_bytes=cap,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0
    assert result.output_bytes == total
    assert result.truncated and len(result.output_tail) == cap
    assert result.output_tail.endswith("THE END!\n")
    assert peak < 10 * 1024 * 1024, f"peak {peak} bytes for {total} bytes of output"


def test_output_that_is_not_utf8_is_decoded_with_replacement(worktree, no_sandbox):
    # A two-byte character split across two writes still decodes whole.
    script = (
        "import sys, time\n"
        "o = sys.stdout.buffer\n"
        "o.write(b'bad \\xff\\xfe end\\ncaf\\xc3'); o.flush(); time.sleep(0.2)\n"
        "o.write(b'\\xa9\\n'); o.flush()\n"
    )
    result = command_run([PYTHON, "-c", script], cwd=worktree, timeout_s=60, allow_network=False)
    assert result.exit_code == 0
    assert result.output_tail == "bad \ufffd\ufffd end\ncafé\n"


def test_crewboard_secrets_stay_out_of_the_environment(worktree, no_sandbox, monkeypatch):
    secrets = {
        "SECRET_KEY": "s3cret-key",
        "DATABASE_URL": "postgres://u:pw@db/x",
        "REDIS_URL": "redis://secret-redis/0",
        "CELERY_BROKER_URL": "redis://secret-broker/1",
        "LLM_API_KEY": "sk-llm-secret",
        "OPENAI_API_KEY": "sk-openai-secret",
        "GITHUB_TOKEN": "ghp_secret",
        "SMTP_PASSWORD": "hunter2",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    environment = command_environment({"CREWBOARD_URL": "http://127.0.0.1:8000"})
    assert not set(secrets) & set(environment)
    result = command_run(
        ["env"],
        cwd=worktree,
        timeout_s=60,
        allow_network=False,
        env={"CREWBOARD_URL": "http://127.0.0.1:8000"},
    )
    assert "HARMLESS_SETTING=visible" in result.output_tail
    assert "CREWBOARD_URL=http://127.0.0.1:8000" in result.output_tail
    for value in secrets.values():
        assert value not in result.output_tail


def test_a_missing_program_is_reported_not_raised(worktree, no_sandbox):
    result = command_run(
        ["no-such-program-here", "--help"], cwd=worktree, timeout_s=60, allow_network=False
    )
    assert result.exit_code == 127
    assert "`no-such-program-here` not found on PATH" in result.output_tail
    with pytest.raises(ValueError):
        command_run([], cwd=worktree, timeout_s=60, allow_network=False)


def test_sandbox_setting(settings, worktree, monkeypatch):
    settings.AGENT_SANDBOX = "none"
    assert not sandbox_available()
    result = command_run(["true"], cwd=worktree, timeout_s=60, allow_network=False)
    assert result.exit_code == 0 and not result.confined
    settings.AGENT_SANDBOX = "sometimes"
    with pytest.raises(SandboxError, match="AGENT_SANDBOX must be one of"):
        sandbox_available()
    # Required but missing: refuse rather than run unconfined.
    settings.AGENT_SANDBOX = "bwrap"
    monkeypatch.setenv("PATH", str(worktree))
    commands._bwrap_usable.cache_clear()
    try:
        with pytest.raises(SandboxError, match="bubblewrap"):
            command_run(["/bin/true"], cwd=worktree, timeout_s=60, allow_network=False)
        # ... unless the caller itself asks for no confinement.
        unconfined = command_run(
            ["/bin/true"], cwd=worktree, timeout_s=60, allow_network=False, confine=False
        )
        assert unconfined.exit_code == 0
    finally:
        commands._bwrap_usable.cache_clear()


@needs_bwrap
def test_inside_bwrap_only_the_worktree_is_writable(worktree, settings, tmp_path, var_tmp):
    settings.AGENT_SANDBOX = "auto"
    outside_tmp = tmp_path / "outside.txt"
    # A path on the real root filesystem, not under the sandbox's private /tmp.
    outside_root = var_tmp / "outside.txt"
    script = (
        f"echo inside > {worktree}/inside.txt && echo wrote-inside; "
        f"echo no > {outside_tmp}; "
        f"echo no > {outside_root} || echo refused-root"
    )
    result = command_run(
        shell_argv(script), cwd=worktree, timeout_s=60, allow_network=False, writable=[worktree]
    )
    assert result.confined and result.exit_code == 0, result.output_tail
    assert (worktree / "inside.txt").read_text() == "inside\n"
    # The write to /tmp lands in the sandbox's private /tmp, never on the host.
    assert "refused-root" in result.output_tail
    assert "Read-only file system" in result.output_tail
    assert not outside_tmp.exists() and not outside_root.exists()


@pytest.fixture
def var_tmp():
    """A folder outside /tmp, which the sandbox replaces with its own."""
    path = Path(tempfile.mkdtemp(prefix="crewboard-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path)


@needs_bwrap
def test_inside_bwrap_crewboards_interpreter_still_runs(worktree, settings):
    # Even where the checkout lives under /tmp, which the sandbox replaces: a project's
    # check may well be run with it (tests do).
    settings.AGENT_SANDBOX = "bwrap"
    result = command_run(
        [sys.executable, "-c", "import django; print('ok')"],
        cwd=worktree,
        timeout_s=60,
        allow_network=False,
        writable=[worktree],
    )
    assert result.confined and result.exit_code == 0, result.output_tail
    assert result.output_tail == "ok\n"


@needs_bwrap
@pytest.mark.parametrize("under_tmp", [False, True])
def test_inside_bwrap_crewboard_env_file_is_hidden(worktree, settings, var_tmp, under_tmp):
    settings.AGENT_SANDBOX = "auto"
    # Under /tmp the checkout is bound back into the sandbox, so it needs the mask too.
    base = worktree.parent / "crewboard" if under_tmp else var_tmp
    base.mkdir(exist_ok=True)
    (base / ".env").write_text("SECRET_KEY=from-dotenv\n")
    settings.BASE_DIR = base
    result = command_run(
        ["cat", str(base / ".env")], cwd=worktree, timeout_s=60, allow_network=False
    )
    # The mask is /dev/null on a nodev mount: reading it fails, which hides it as well.
    assert result.confined
    assert "from-dotenv" not in result.output_tail


@needs_bwrap
@pytest.mark.parametrize("allow_network", [False, True])
def test_inside_bwrap_network_is_off_unless_allowed(worktree, settings, allow_network):
    settings.AGENT_SANDBOX = "bwrap"
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        script = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=10).close()\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print('refused', exc)\n"
        )
        result = command_run(
            [PYTHON, "-c", script],
            cwd=worktree,
            timeout_s=60,
            allow_network=allow_network,
            writable=[worktree],
        )
    assert result.confined and result.exit_code == 0, result.output_tail
    assert result.output_tail.startswith("connected" if allow_network else "refused")
