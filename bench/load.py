"""Load on a served Crewboard: external agents and dashboard readers at once. Prints JSON.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/load.py            # 60 s
    LOAD_SOAK=1 ... .venv/bin/python bench/load.py   # 10 min, with memory growth

It creates a throwaway database next to the configured one (as the test suite does), a
project with LOAD_TASKS ready tasks, LOAD_AGENTS external agents with keys and a reader,
then serves Crewboard as the Procfile does (gunicorn with 2 workers, one Celery worker,
on a free port) and runs locust headless (bench/locustfile.py): LOAD_AGENTS agents
claiming, reporting and completing, and LOAD_READERS dashboard readers, for LOAD_SECONDS.

- `rps`, `p50_ms`, `p99_ms`: over every request of the run (locust's aggregate).
- `errors`: failed requests (any 5xx or unexpected status, or a refused connection).
- `double_claims`: tasks claimed more than once, from the claims the agents saw and from
  the runs in the database; it must be 0.
- In soak mode, `web_rss_growth_pct` and `worker_rss_growth_pct`: resident memory of
  gunicorn (master and workers) and of the Celery worker (all its processes), at the end
  against a minute in, after warm-up.
"""

import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import Count  # noqa: E402

from agents import services  # noqa: E402
from agents.models import Agent, AgentRun  # noqa: E402
from planning.models import Task  # noqa: E402
from planning.services import membership_set, project_create  # noqa: E402

SOAK = os.environ.get("LOAD_SOAK", "") not in ("", "0")
SECONDS = int(os.environ.get("LOAD_SECONDS", "600" if SOAK else "60"))
AGENTS = int(os.environ.get("LOAD_AGENTS", "8"))
READERS = int(os.environ.get("LOAD_READERS", "4"))
TASKS = int(os.environ.get("LOAD_TASKS", "20000" if SOAK else "4000"))
# Memory is compared from this far into a soak, after imports and caches have settled.
SOAK_BASELINE_S = 60
BIN = Path(sys.executable).parent
WARM_UP_ANSWERS = 6


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed() -> dict[str, Any]:
    """The project, its ready tasks, the agents' keys and the reader's login."""
    owner = get_user_model().objects.create_user("load-owner", password=secrets.token_hex(8))
    project = project_create(owner=owner, name="Load")
    Task.objects.bulk_create(
        Task(project=project, key=f"T{i:05d}", name=f"task {i}") for i in range(TASKS)
    )
    keys = []
    for number in range(AGENTS):
        agent = services.agent_create(project=project, name=f"agent-{number}", type="external")
        keys.append(services.agent_key_issue(agent=agent).key)
    password = secrets.token_hex(12)
    reader = get_user_model().objects.create_user("load-reader", password=password)
    membership_set(project=project, user=reader, role="viewer")
    connections.close_all()
    return {"slug": project.slug, "keys": keys, "reader": reader.username, "password": password}


def serve(port: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """gunicorn and a Celery worker, as the Procfile runs them, after collecting the
    static files the pages link to (as `make run` does)."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    web = subprocess.Popen(
        [
            str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--control-socket", str(Path(env["LOAD_DIR"]) / "gunicorn.ctl"),
            "--error-logfile", str(Path(env["LOAD_DIR"]) / "web.log"),
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "config", "worker", "--loglevel=WARNING", "--concurrency=2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # Each gunicorn worker imports Django when it boots: the clock starts once both answer
    # (a few answers in a row, as requests go to whichever worker is free).
    deadline, answered = time.monotonic() + 120, 0
    while time.monotonic() < deadline and answered < WARM_UP_ANSWERS:
        try:
            with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as response:
                answered += response.status == 200
        except OSError:
            time.sleep(0.2)
    if answered < WARM_UP_ANSWERS:
        raise RuntimeError("gunicorn did not start; see web.log")
    return [web, worker]


def rss_mb(process: subprocess.Popen[bytes]) -> float:
    """Resident memory of a process and all its children."""
    root = psutil.Process(process.pid)
    members = [root, *root.children(recursive=True)]
    return sum(member.memory_info().rss for member in members if member.is_running()) / 2**20


def run_locust(port: int, env: dict[str, str], out: Path) -> None:
    users = AGENTS + READERS
    subprocess.run(
        [
            str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
            "--host", f"http://127.0.0.1:{port}", "--users", str(users),
            "--spawn-rate", str(users), "--run-time", f"{SECONDS}s", "--stop-timeout", "10",
            "--csv", str(out / "load"), "--only-summary", "--loglevel", "WARNING",
            "ExternalAgent", "DashboardReader",
        ],
        cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def aggregate(out: Path) -> dict[str, Any]:
    with open(out / "load_stats.csv") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    total = rows["Aggregated"]
    return {
        "requests": int(total["Request Count"]),
        "errors": int(total["Failure Count"]),
        "rps": round(float(total["Requests/s"]), 1),
        "p50_ms": float(total["50%"]),
        "p99_ms": float(total["99%"]),
        "by_request": {
            name: {"count": int(row["Request Count"]), "p99_ms": float(row["99%"])}
            for name, row in rows.items()
            if name != "Aggregated"
        },
    }


def failures(out: Path) -> list[str]:
    """The distinct reasons requests failed, with their counts (locust's failures file)."""
    with open(out / "load_failures.csv") as rows:
        return [
            f"{row['Occurrences']} x {row['Method']} {row['Name']}: {row['Error'][:200]}"
            for row in csv.DictReader(rows)
        ]


def double_claims(slug: str, claimed_log: Path) -> int:
    seen = claimed_log.read_text().split() if claimed_log.exists() else []
    held = (
        AgentRun.objects.filter(project__slug=slug, agent__type=Agent.Type.EXTERNAL)
        .values("task")
        .annotate(n=Count("id"))
    )
    in_db = sum(row["n"] - 1 for row in held if row["n"] > 1)
    return max(len(seen) - len(set(seen)), int(in_db))


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        target = seed()
        with tempfile.TemporaryDirectory(prefix="crewboard-load-") as tmp:
            out = Path(tmp)
            port = free_port()
            env = {
                **os.environ,
                "DATABASE_URL": database_url(),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "LOAD_DIR": tmp,
                "LOAD_PROJECT": target["slug"],
                "LOAD_AGENT_KEYS": ",".join(target["keys"]),
                "LOAD_READERS": str(READERS),
                "LOAD_READER": target["reader"],
                "LOAD_READER_PASSWORD": target["password"],
                "LOAD_CLAIMED_LOG": str(out / "claimed.txt"),
            }
            processes = serve(port, env)
            web, worker = processes
            memory: dict[str, float] = {}
            if SOAK:

                def baseline() -> None:
                    time.sleep(SOAK_BASELINE_S)
                    memory["web"], memory["worker"] = rss_mb(web), rss_mb(worker)

                sampler = threading.Thread(target=baseline, daemon=True)
                sampler.start()
            run_locust(port, env, out)
            results: dict[str, Any] = {
                "database": connection.vendor,
                "cpus": os.cpu_count(),
                "seconds": SECONDS,
                "agents": AGENTS,
                "readers": READERS,
                **aggregate(out),
                "completed_runs": AgentRun.objects.filter(status="succeeded").count(),
                "double_claims": double_claims(target["slug"], out / "claimed.txt"),
            }
            if SOAK and memory:
                web_now, worker_now = rss_mb(web), rss_mb(worker)
                results |= {
                    "web_rss_mb": [round(memory["web"], 1), round(web_now, 1)],
                    "worker_rss_mb": [round(memory["worker"], 1), round(worker_now, 1)],
                    "web_rss_growth_pct": round(100 * (web_now / memory["web"] - 1), 1),
                    "worker_rss_growth_pct": round(100 * (worker_now / memory["worker"] - 1), 1),
                }
            results["failures"] = failures(out)
            print(json.dumps(results, indent=2))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
