"""Run a command for an agent: in its own process group, with a clean environment,
streamed output, a timeout and cancellation that end every process it started, and,
where bubblewrap is available, confined to a read-only filesystem with only its
worktree writable and no network unless the project allows it.

Setup and verify commands, the code tools' `run_command` and the coding CLIs all run
through `command_run`, so each of them gets the same limits.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from django.conf import settings

# Time a process group gets between SIGTERM and SIGKILL to clean up after itself.
KILL_GRACE_S = 2.0
POLL_S = 0.5
# After the command exits, how long output still in flight (held open by a process that
# escaped its group) may keep it waiting.
DRAIN_S = 2.0
READ_BYTES = 64 * 1024
SANDBOX_MODES = ("auto", "bwrap", "none")

# Crewboard's own credentials never reach an agent's command.
SECRET_NAMES = frozenset(
    {
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "CELERY_BROKER_DIR",
        "LLM_API_KEY",
        # A project that is itself a Django app must not pick up Crewboard's settings.
        "DJANGO_SETTINGS_MODULE",
    }
)
SECRET_PATTERNS = ("*_API_KEY", "*_TOKEN", "*PASSWORD*", "*SECRET*")


class SandboxError(Exception):
    """AGENT_SANDBOX asks for confinement this host cannot give."""


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int | None  # None when killed (timeout/cancel); negative: ended by a signal
    timed_out: bool
    cancelled: bool
    duration_ms: int
    output_tail: str  # the last characters of stdout+stderr, decoded (utf-8, replaced)
    output_bytes: int  # everything produced, in bytes
    truncated: bool
    confined: bool  # ran inside bubblewrap

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


def shell_argv(command: str) -> list[str]:
    """The argv that runs a project's setup or verify command line."""
    return ["/bin/sh", "-c", command]


def _is_secret(name: str) -> bool:
    upper = name.upper()
    return upper in SECRET_NAMES or any(fnmatchcase(upper, p) for p in SECRET_PATTERNS)


def command_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without Crewboard's secrets, plus `extra` (which may add any name)."""
    environment = {k: v for k, v in os.environ.items() if not _is_secret(k)}
    environment.update(extra or {})
    return environment


@functools.cache
def _bwrap_usable() -> bool:
    """Whether bubblewrap is installed and can make the namespaces we ask for here (it
    cannot inside some containers)."""
    if shutil.which("bwrap") is None:
        return False
    probe = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    probe += ["--unshare-net", "--unshare-pid", "--die-with-parent", "--", "/bin/true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _sandbox_mode() -> str:
    mode = str(settings.AGENT_SANDBOX).lower()
    if mode not in SANDBOX_MODES:
        raise SandboxError(f"AGENT_SANDBOX must be one of {', '.join(SANDBOX_MODES)}, not {mode!r}")
    return mode


def sandbox_available() -> bool:
    """Whether commands will run inside bubblewrap: never with AGENT_SANDBOX=none,
    otherwise when bwrap is on PATH and works on this host."""
    return _sandbox_mode() != "none" and _bwrap_usable()


def _masked_files() -> Iterator[Path]:
    """Files holding Crewboard's secrets that a sandboxed command must not read even
    though the rest of the filesystem is visible."""
    base = Path(settings.BASE_DIR)
    candidates = [base / ".env"]
    for database in settings.DATABASES.values():
        if "sqlite" in str(database.get("ENGINE", "")):
            name = Path(str(database.get("NAME", "")))
            candidates += [name, name.with_name(name.name + "-wal")]
    yield from (path for path in candidates if path.is_file())


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _bwrap_argv(
    argv: Sequence[str],
    *,
    cwd: str,
    writable: Sequence[Path],
    read_only: Sequence[Path],
    allow_network: bool,
) -> list[str]:
    # No --new-session: the sandbox must stay in our process group, so that a timeout's
    # killpg reaches every process in it. stdin is /dev/null and the group has no
    # terminal, so the TIOCSTI escape --new-session guards against does not apply.
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--tmpfs", "/tmp", "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
    if os.geteuid() == 0:
        # Root keeps its capabilities in bwrap; without them it cannot remount / writable.
        args += ["--cap-drop", "ALL"]
    if not allow_network:
        args.append("--unshare-net")
    bound = [os.path.realpath(path) for path in writable]
    visible = list(bound)
    # The fresh /tmp hides what lies under it: the working directory, and Crewboard's
    # own checkout and interpreter where a development checkout lives there, which a
    # check may run. They come back read-only, broadest first, and before the writable
    # binds so that they cannot cover one.
    wanted = {cwd, os.path.realpath(settings.BASE_DIR), os.path.realpath(sys.prefix)}
    for path in sorted(wanted, key=len):
        if _inside(path, "/tmp") and not any(_inside(path, shown) for shown in visible):
            args += ["--ro-bind", path, path]
            visible.append(path)
    for path in bound:
        args += ["--bind", path, path]
    for path in map(os.path.realpath, read_only):
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
            visible.append(path)
    # Last, so no bind uncovers them; what the private /tmp already hides needs no mask.
    for secret in map(str, _masked_files()):
        if not _inside(secret, "/tmp") or any(_inside(secret, path) for path in visible):
            args += ["--ro-bind", "/dev/null", secret]
    return [*args, "--chdir", cwd, "--", *argv]


class _Output:
    """Decodes both streams as they come, passes them on, and keeps only the tail."""

    def __init__(self, cap: int, on_output: Callable[[str, str], None] | None) -> None:
        self.cap = cap
        self.on_output = on_output
        self.parts: list[str] = []
        self.size = 0
        self.total_bytes = 0
        self.truncated = False
        self.decoders = {
            stream: codecs.getincrementaldecoder("utf-8")(errors="replace")
            for stream in ("stdout", "stderr")
        }

    def feed(self, stream: str, data: bytes, *, final: bool = False) -> None:
        self.total_bytes += len(data)
        text = self.decoders[stream].decode(data, final)
        if not text:
            return
        if self.on_output is not None:
            self.on_output(stream, text)
        self.parts.append(text)
        self.size += len(text)
        if self.size > 2 * self.cap:
            self._trim()

    def _trim(self) -> None:
        joined = "".join(self.parts)
        if len(joined) > self.cap:
            self.truncated = True
            joined = joined[len(joined) - self.cap :]
        self.parts = [joined]
        self.size = len(joined)

    def tail(self) -> str:
        self._trim()
        return self.parts[0] if self.parts else ""


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _has_exited(pid: int) -> bool:
    """Whether the group leader has exited, without reaping it: while it is a zombie its
    pid (the group's id) cannot be reused, so killing the group afterwards is safe."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _not_started(
    argv: Sequence[str], message: str, code: int, confined: bool, output: _Output
) -> CommandResult:
    output.feed("stderr", message.encode(), final=True)
    return CommandResult(
        argv=tuple(argv),
        exit_code=code,
        timed_out=False,
        cancelled=False,
        duration_ms=0,
        output_tail=output.tail(),
        output_bytes=output.total_bytes,
        truncated=False,
        confined=confined,
    )


def command_run(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout_s: float,
    allow_network: bool,
    writable: Sequence[Path] = (),
    read_only: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    on_output: Callable[[str, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    max_output_bytes: int | None = None,
    confine: bool = True,
) -> CommandResult:
    """Run `argv` in `cwd` and wait for it, streaming its output to `on_output`.

    Confined, only `writable` can be written, except `read_only` paths inside it (such
    as a git dir's config and hooks: see paths.worktree_mounts). `env` is added to the
    clean `command_environment()`. The command runs in its own process group; a timeout
    or `should_cancel()` turning true ends the whole group (SIGTERM, then SIGKILL), and
    so does the command's own exit, so nothing it started outlives it. A program that
    cannot be started gives exit code 127 (126 when it is not executable) and says why
    in the output. Raises ValueError for an empty argv and SandboxError when
    AGENT_SANDBOX=bwrap but bubblewrap cannot run here.
    """
    if not argv:
        raise ValueError("a command needs at least a program name")
    if max_output_bytes is None:
        max_output_bytes = settings.AGENT_COMMAND_OUTPUT_BYTES
    output = _Output(max_output_bytes, on_output)
    environment = command_environment(env)
    confined = confine and sandbox_available()
    if confine and not confined and _sandbox_mode() == "bwrap":
        raise SandboxError("AGENT_SANDBOX=bwrap, but bubblewrap (bwrap) is missing or unusable")
    program = argv[0]
    if "/" not in program and shutil.which(program, path=environment.get("PATH")) is None:
        return _not_started(argv, f"`{program}` not found on PATH\n", 127, confined, output)
    full_argv = list(argv)
    if confined:
        environment["TMPDIR"] = "/tmp"
        full_argv = _bwrap_argv(
            argv,
            cwd=os.path.realpath(cwd),
            writable=writable,
            read_only=read_only,
            allow_network=allow_network,
        )
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            full_argv,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        code = 126 if isinstance(exc, PermissionError) else 127
        return _not_started(argv, f"cannot run {program}: {exc.strerror}\n", code, confined, output)
    timed_out = cancelled = False
    try:
        timed_out, cancelled = _pump(process, output, started + timeout_s, should_cancel)
    finally:
        # Also on an exception (such as on_output failing): leave nothing running.
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    for stream in ("stdout", "stderr"):
        output.feed(stream, b"", final=True)
    tail = output.tail()
    return CommandResult(
        argv=tuple(argv),
        exit_code=None if timed_out or cancelled else process.returncode,
        timed_out=timed_out,
        cancelled=cancelled,
        duration_ms=int((time.monotonic() - started) * 1000),
        output_tail=tail,
        output_bytes=output.total_bytes,
        truncated=output.truncated,
        confined=confined,
    )


def _pump(
    process: subprocess.Popen[bytes],
    output: _Output,
    deadline: float,
    should_cancel: Callable[[], bool] | None,
) -> tuple[bool, bool]:
    """Read both pipes until the command is over; returns (timed_out, cancelled)."""
    selector = selectors.DefaultSelector()
    for stream, pipe in (("stdout", process.stdout), ("stderr", process.stderr)):
        assert pipe is not None
        selector.register(pipe, selectors.EVENT_READ, stream)
    timed_out = cancelled = False
    terminated_at: float | None = None
    killed = False
    exited_at: float | None = None
    next_cancel_check = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and _has_exited(process.pid):
                exited_at = now
                _signal_group(process.pid, signal.SIGKILL)
            if exited_at is not None and (not selector.get_map() or now > exited_at + DRAIN_S):
                return timed_out, cancelled
            if terminated_at is None and exited_at is None:
                if now >= deadline:
                    timed_out = True
                elif should_cancel is not None and now >= next_cancel_check:
                    # Throttled: asking may mean a database query.
                    next_cancel_check = now + POLL_S
                    cancelled = should_cancel()
                if timed_out or cancelled:
                    terminated_at = now
                    _signal_group(process.pid, signal.SIGTERM)
            if terminated_at is not None and not killed and now >= terminated_at + KILL_GRACE_S:
                killed = True
                _signal_group(process.pid, signal.SIGKILL)
            wait = POLL_S if exited_at is None else 0.05
            if terminated_at is None:
                wait = min(wait, max(deadline - now, 0.0))
            elif not killed:
                wait = min(wait, max(terminated_at + KILL_GRACE_S - now, 0.0))
            if not selector.get_map():
                time.sleep(wait)
                continue
            for key, _ in selector.select(timeout=wait):
                fileobj = key.fileobj
                fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
                data = os.read(fd, READ_BYTES)
                if data:
                    output.feed(key.data, data)
                else:
                    selector.unregister(fileobj)
    finally:
        selector.close()
