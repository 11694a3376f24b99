"""`crewboard next` next to Task Master's `task-master next`, on the same plan. Prints one JSON
object.

A synthetic Task Master tasks.json of BENCH_CLI_TASKS (10,000) tasks is generated: ids in
order, each task depending on one or two earlier ones, the first 30 % done, priorities
mixed (seeded, so every run has the same plan). Crewboard gets a throwaway database next to
the configured one (as the test suite makes it), a user with a token, and a gunicorn server
on a free port with a Celery worker beside it, since a file this size is imported by a
worker; the file is imported with `crewboard import --create` (timed as
`crewboard_import_s`). Then, alternating, BENCH_CLI_ROUNDS (7) rounds of:

- `crewboard_next_s`, `crewboard_next_rss_mb`: the installed console script's
  `crewboard next --json`, a fresh process each time, as a shell or an agent runs it:
  wall time, and the peak resident memory of the CLI process (not the server's).
- `taskmaster_next_s`, `taskmaster_next_rss_mb`: Task Master's own `task-master next
  --format json` on the same file, from var/tools/node_modules/.bin/task-master
  (`make tools-npm`), with its update check off (TASKMASTER_SKIP_AUTO_UPDATE=1).
  `taskmaster_next_cpu_s` is its user + system CPU time: its wall time also holds
  whatever network waits it makes. Null, with `taskmaster_skipped` saying why, when it
  is not installed.

Medians of the rounds, after one untimed warm-up of each. Targets: `crewboard_next_s` under
0.3 s and `crewboard_next_rss_mb` under 60 MB.

Then, with the server stopped, bench/mcp_next.py's measurement on a project of its own in
the same database: `mcp_next_ms` (`next_task` over /mcp/, target under 50 ms) with its
floor `rest_next_ms`, and `mcp_core_tokens` (target under 2,000) with the other
profiles' sizes.

    .venv/bin/python bench/cli.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/cli.py
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from bench.mcp_next import measure_all as measure_mcp  # noqa: E402
from bench.serving import (  # noqa: E402
    BIN,
    free_port,
    gunicorn,
    server_env,
    stop,
    wait_until_up,
)

TASKS = int(os.environ.get("BENCH_CLI_TASKS", "10000"))
ROUNDS = int(os.environ.get("BENCH_CLI_ROUNDS", "7"))
CREWBOARD = BIN / "crewboard"
TASK_MASTER = ROOT / "var" / "tools" / "node_modules" / ".bin" / "task-master"
PROJECT = "bench-cli"


def synthetic_tasks_json(count: int) -> dict[str, Any]:
    """A Task Master plan of `count` tasks, each depending on one or two earlier ones."""
    rng = random.Random(15)
    done_until = int(count * 0.3)
    tasks = []
    for number in range(1, count + 1):
        earlier = range(max(1, number - 50), number)
        dependencies = sorted(rng.sample(earlier, min(len(earlier), rng.choice((1, 2)))))
        tasks.append(
            {
                "id": number,
                "title": f"Task {number}",
                "description": f"Synthetic task {number} of {count}.",
                "details": "Change the module, then run its tests.",
                "testStrategy": "pytest",
                "status": "done" if number <= done_until else "pending",
                "priority": rng.choice(("high", "medium", "medium", "low")),
                "dependencies": dependencies,
                "subtasks": [],
            }
        )
    stamp = "2026-01-01T00:00:00.000Z"
    return {
        "master": {
            "tasks": tasks,
            "metadata": {"created": stamp, "updated": stamp, "description": "Synthetic plan"},
        }
    }


@contextmanager
def throwaway_database() -> Iterator[None]:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


@contextmanager
def crewboard_server(folder: Path) -> Iterator[str]:
    """gunicorn serving Crewboard on the throwaway database (2 workers), with a Celery
    worker beside it, until the block ends."""
    port = free_port()
    log_path = folder / "server.log"
    log = log_path.open("w")
    server = gunicorn(port, 2, log)
    # A file this size is imported by a worker, as with `make run`.
    worker = subprocess.Popen(
        [BIN / "celery", "-A", "config", "worker", "--concurrency=1", "--loglevel=WARNING"],
        cwd=ROOT,
        env=server_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, server, log_path)
        yield url
    except BaseException:
        log.flush()
        sys.stderr.write(log_path.read_text()[-5000:])
        raise
    finally:
        for process in (server, worker):
            process.terminate()
        for process in (server, worker):
            stop(process)
        log.close()


# Runs one command (its output to a file) and prints its usage as JSON. The command is
# started from this small process rather than from the benchmark's own: Linux keeps a
# child's peak RSS across exec, so a child forked from a process holding Django and the
# plan would be charged that process's memory too.
LAUNCHER = """
import json, os, sys, time
output, command = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawn(command[0], command, os.environ, file_actions=[
    (os.POSIX_SPAWN_OPEN, 1, output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
])
_, status, usage = os.wait4(pid, 0)
print(json.dumps({
    "wall_s": time.perf_counter() - started,
    "rss_mb": usage.ru_maxrss / 1024,
    "cpu_s": usage.ru_utime + usage.ru_stime,
    "returncode": os.waitstatus_to_exitcode(status),
}))
"""


def measured(command: list[str], *, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """One run's wall time, peak resident memory (MB) and CPU time (s), and its output."""
    output = cwd / "measured.out"
    report = subprocess.run(
        [sys.executable, "-I", "-c", LAUNCHER, output, *command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(report.stdout)
    figures["stdout"] = output.read_bytes()
    return figures


def median(runs: list[dict[str, Any]], key: str, digits: int = 3) -> float:
    return round(float(statistics.median(run[key] for run in runs)), digits)


def main() -> None:
    result: dict[str, Any] = {"tasks": TASKS, "rounds": ROUNDS}
    with tempfile.TemporaryDirectory(prefix="crewboard-bench-cli-") as tmp, throwaway_database():
        folder = Path(tmp)
        plan_root = folder / "plan"
        tasks_json = plan_root / ".taskmaster" / "tasks" / "tasks.json"
        tasks_json.parent.mkdir(parents=True)
        tasks_json.write_text(json.dumps(synthetic_tasks_json(TASKS)))
        owner = get_user_model().objects.get_or_create(username="bench")[0]
        token = Token.objects.create(user=owner).key
        connection.close()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CREWBOARD_")},
            "XDG_CONFIG_HOME": str(folder / "config"),
        }
        with crewboard_server(folder) as url:
            login = subprocess.run(
                [str(CREWBOARD), "login", url, "--token", token], env=env, capture_output=True
            )
            assert login.returncode == 0, login.stderr
            started = time.perf_counter()
            imported = subprocess.run(
                [CREWBOARD, "import", tasks_json, "--project", PROJECT, "--create", "--json"],
                env=env,
                capture_output=True,
                text=True,
            )
            result["crewboard_import_s"] = round(time.perf_counter() - started, 2)
            assert imported.returncode == 0, imported.stderr
            subprocess.run([str(CREWBOARD), "use", PROJECT], env=env, check=True)

            crewboard_next = [str(CREWBOARD), "next", "--json"]
            taskmaster_next = [str(TASK_MASTER), "next", "--format", "json"]
            taskmaster_env = {**env, "TASKMASTER_SKIP_AUTO_UPDATE": "1"}
            has_taskmaster = TASK_MASTER.exists()
            measured(crewboard_next, cwd=folder, env=env)
            if has_taskmaster:
                measured(taskmaster_next, cwd=plan_root, env=taskmaster_env)
            ours: list[dict[str, Any]] = []
            theirs: list[dict[str, Any]] = []
            for round_number in range(ROUNDS):
                # Alternating the order keeps a warm cache or a busy moment from favouring one.
                order = [0, 1] if round_number % 2 == 0 else [1, 0]
                for side in order:
                    if side == 0:
                        ours.append(measured(crewboard_next, cwd=folder, env=env))
                    elif has_taskmaster:
                        theirs.append(measured(taskmaster_next, cwd=plan_root, env=taskmaster_env))
            assert all(run["returncode"] == 0 for run in ours), "crewboard next failed"
            result["crewboard_next_key"] = json.loads(ours[-1]["stdout"])["key"]
            result["crewboard_next_s"] = median(ours, "wall_s")
            result["crewboard_next_rss_mb"] = median(ours, "rss_mb", 1)
            result["crewboard_next_cpu_s"] = median(ours, "cpu_s")
            if has_taskmaster:
                result["taskmaster_next_s"] = median(theirs, "wall_s")
                result["taskmaster_next_rss_mb"] = median(theirs, "rss_mb", 1)
                result["taskmaster_next_cpu_s"] = median(theirs, "cpu_s")
                result["taskmaster_exit_codes"] = sorted({run["returncode"] for run in theirs})
            else:
                result["taskmaster_next_s"] = None
                result["taskmaster_next_rss_mb"] = None
                result["taskmaster_skipped"] = (
                    f"{TASK_MASTER.relative_to(ROOT)} is not installed: run `make tools-npm`"
                )
        # The MCP figures, on their own project of the same database, once the server
        # above has stopped: `next_task` over /mcp/ and its REST floor, and the size of
        # each tool profile (bench/mcp_next.py).
        mcp = measure_mcp()
        result["mcp_tasks"] = mcp.pop("tasks")
        mcp.pop("database")
        result.update(mcp)
    result["database"] = connection.vendor
    # Side by side, as ratios: the steadier figures on a busy machine.
    if result["taskmaster_next_s"]:
        result["taskmaster_over_crewboard_next"] = round(
            result["taskmaster_next_s"] / result["crewboard_next_s"], 1
        )
    result["mcp_over_rest_next"] = round(result["mcp_next_ms"] / result["rest_next_ms"], 2)
    result["load_average"] = [round(load, 1) for load in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
