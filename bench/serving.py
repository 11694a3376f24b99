"""A Crewboard server for the benchmarks: gunicorn in a process of its own, on the
benchmark's throwaway database, as production serves it. A server in a thread of the
benchmark's own process would share its interpreter lock with the client being timed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_database_url() -> str:
    """The throwaway database as a DATABASE_URL, for the server process."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    credentials = quote(settings["USER"] or "", safe="")
    if settings["PASSWORD"]:
        credentials += ":" + quote(settings["PASSWORD"], safe="")
    host = settings["HOST"] or "127.0.0.1"
    port = f":{settings['PORT']}" if settings["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{settings['NAME']}"


def server_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": server_database_url(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "false",
    }


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    # Generous: on a loaded machine the workers take a while to load Django.
    deadline = time.monotonic() + 300
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {log}") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        # A worker still inside a long request does not stop on TERM in time.
        process.kill()
        process.wait()


def gunicorn(port: int, workers: int, log: IO[str]) -> subprocess.Popen[bytes]:
    command = [str(BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}"]
    command += ["-w", str(workers), "--timeout", "600"]
    return subprocess.Popen(
        command, cwd=ROOT, env=server_env(), stdout=log, stderr=subprocess.STDOUT
    )


class Server:
    """A running gunicorn: its URL, and the CPU time its one worker has used."""

    def __init__(self, url: str, process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.process = process

    def worker_cpu_s(self) -> float:
        """User + system CPU time of the (first) worker process, from /proc."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return process_cpu_s(int(children.read_text().split()[0])) or 0.0


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU time of a process of this machine, from /proc; None when it
    cannot be read (gone, or not ours to read)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # utime and stime are the 14th and 15th fields; after the name, the 3rd is first.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def database_backends() -> list[int]:
    """The PostgreSQL backends serving the throwaway database, but for this process's own
    (read once the server has connected); empty on SQLite, whose work is the server's own
    CPU time."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


def processes_cpu_s(pids: list[int]) -> dict[int, float]:
    """CPU time so far of each of `pids` that can be read (none when the database runs on
    another machine)."""
    return {pid: cpu for pid in pids if (cpu := process_cpu_s(pid)) is not None}


def processes_cpu_since(before: dict[int, float]) -> float | None:
    """CPU seconds the processes of `before` (processes_cpu_s) used since; None when none
    could be read."""
    after = processes_cpu_s(list(before))
    return sum(after[pid] - before[pid] for pid in after) if after else None


@contextmanager
def crewboard_server(log_path: Path, *, workers: int = 1) -> Iterator[Server]:
    """gunicorn serving Crewboard on the throwaway database, until the block ends."""
    port = free_port()
    with log_path.open("w") as log:
        process = gunicorn(port, workers, log)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url, process, log_path)
            yield Server(url, process)
        except BaseException:
            log.flush()
            sys.stderr.write(log_path.read_text()[-5000:])
            raise
        finally:
            stop(process)
