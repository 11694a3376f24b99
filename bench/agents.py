"""Agent benchmarks. Prints one JSON object.

Runs against a throwaway database created next to the configured one (the same way the
test suite does), so it never touches real data. Run it on PostgreSQL + Redis:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/agents.py

- `claims_per_s`: 8 processes (BENCH_CLAIMERS) claim from 1,000 ready tasks (BENCH_CLAIM_TASKS)
  through the API until it answers 204; each claim is made by a fresh external agent, so
  that only claims are timed. The API runs in-process (Django's test client: the whole
  Django and DRF stack, without sockets or a web server). `double_claims` counts claims
  beyond the first of any task, from the answers and from the runs in the database; it
  must be 0. `claims_service_per_s` is the same race calling the claim service directly.
- `toolcall_rows_per_s`: ToolCall rows written per second through the batch API by one
  client: BENCH_TOOLCALL_BATCHES batches of BENCH_TOOLCALL_BATCH tool calls, each reported
  with its status, so two rows (started and completion) per call.

- `steps_per_s`: agent steps per second on one Celery worker (solo pool) with a
  zero-latency model (a loopback OpenAI-compatible server) making one tool call per step;
  `celery_noop_per_s` is raw Celery no-op tasks per second on the same worker and broker,
  and `step_ratio` their ratio.

Every measurement is a function in MEASUREMENTS that returns a dict of figures; main()
creates the database, runs each in turn and prints the merged result.
"""

import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
# The in-process API client talks to the host "testserver".
os.environ["ALLOWED_HOSTS"] = "testserver"

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import Count  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from agents import services  # noqa: E402
from agents.auth import agent_key_hash  # noqa: E402
from agents.models import Agent, AgentRun, ToolCall  # noqa: E402
from agents.services.external import KEY_PREFIX  # noqa: E402
from planning.models import Project, Task  # noqa: E402
from planning.services import project_create  # noqa: E402

CLAIMERS = int(os.environ.get("BENCH_CLAIMERS", "8"))
CLAIM_TASKS = int(os.environ.get("BENCH_CLAIM_TASKS", "1000"))
TOOLCALL_BATCHES = int(os.environ.get("BENCH_TOOLCALL_BATCHES", "20"))
TOOLCALL_BATCH = int(os.environ.get("BENCH_TOOLCALL_BATCH", "500"))
TIMEOUT_S = 600


def database_url() -> str:
    """A URL for the benchmark database, for processes the benchmark starts."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def bench_owner() -> Any:
    return get_user_model().objects.get_or_create(username="bench")[0]


def agent_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {key}")
    return client


# Claims -------------------------------------------------------------------------------


def _claimer(slug: str, keys: list[str], via: str, start: Any, results: Any) -> None:
    """In a spawned process (which set Django up against the benchmark database when it
    imported this module): claim with each key in turn until the API answers 204."""
    try:
        agents = (
            {a.api_key_hash: a for a in Agent.objects.filter(project__slug=slug)}
            if via == "service"
            else {}
        )
        client = APIClient()
        claimed: list[str] = []
        start.wait(timeout=TIMEOUT_S)
        for key in keys:
            if via == "api":
                client.credentials(HTTP_AUTHORIZATION=f"Agent {key}")
                response = client.post(f"/api/v1/projects/{slug}/tasks/claim/")
                if response.status_code == 204:
                    break
                assert response.status_code == 201, response.content
                claimed.append(response.json()["task"]["key"])
            else:
                run = services.task_claim(agent=agents[agent_key_hash(key)])
                if run is None:
                    break
                claimed.append(run.task.key)
        results.put((claimed, None))
    except BaseException as exc:
        results.put(([], repr(exc)))
    finally:
        connections.close_all()


def _claim_race(*, via: str) -> tuple[float, int]:
    """Claims per second and double claims of CLAIMERS processes racing for CLAIM_TASKS."""
    project = project_create(owner=bench_owner(), name=f"claims via {via}")
    Task.objects.bulk_create(
        Task(project=project, key=f"T{i:05d}", name=f"task {i}") for i in range(CLAIM_TASKS)
    )
    # Twice a fair share of agents each, so that no process runs out before the tasks do.
    share = 2 * CLAIM_TASKS // CLAIMERS + 1
    keys = [[f"{KEY_PREFIX}{via}-{p}-{n}" for n in range(share)] for p in range(CLAIMERS)]
    Agent.objects.bulk_create(
        Agent(project=project, name=key, type=Agent.Type.EXTERNAL, api_key_hash=agent_key_hash(key))
        for process_keys in keys
        for key in process_keys
    )
    connections.close_all()

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(CLAIMERS + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_claimer, args=(project.slug, process_keys, via, start, results))
        for process_keys in keys
    ]
    for process in processes:
        process.start()
    start.wait(timeout=TIMEOUT_S)
    started = time.perf_counter()
    outcomes = [results.get(timeout=TIMEOUT_S) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join(timeout=30)
    errors = [error for _, error in outcomes if error]
    if errors:
        raise RuntimeError(f"a claimer failed: {errors[0]}")

    claimed = [key for keys_claimed, _ in outcomes for key in keys_claimed]
    held = AgentRun.objects.filter(project=project).values("task").annotate(n=Count("id"))
    double_in_db = sum(row["n"] - 1 for row in held if row["n"] > 1)
    double_claims = max(len(claimed) - len(set(claimed)), double_in_db)
    unclaimed = project.tasks.filter(status=Task.Status.PENDING).count()
    if unclaimed or len(set(claimed)) != CLAIM_TASKS:
        raise RuntimeError(f"{unclaimed} tasks were left unclaimed")
    return len(claimed) / elapsed, double_claims


def measure_claims() -> dict[str, Any]:
    api_per_s, api_doubles = _claim_race(via="api")
    service_per_s, service_doubles = _claim_race(via="service")
    return {
        "claimers": CLAIMERS,
        "claim_tasks": CLAIM_TASKS,
        "claims_per_s": round(api_per_s, 1),
        "claims_service_per_s": round(service_per_s, 1),
        "double_claims": api_doubles + service_doubles,
    }


# Log ingest ---------------------------------------------------------------------------


def measure_toolcall_ingest() -> dict[str, Any]:
    project: Project = project_create(owner=bench_owner(), name="log ingest")
    Task.objects.create(project=project, key="T1", name="ingest")
    agent = services.agent_create(project=project, name="ingest", type=Agent.Type.EXTERNAL)
    client = agent_client(services.agent_key_issue(agent=agent).key)
    run_id = client.post(f"/api/v1/projects/{project.slug}/tasks/claim/").json()["run"]["id"]
    endpoint = f"/api/v1/projects/{project.slug}/runs/{run_id}/tool-calls/"

    def batch(number: int) -> bytes:
        return json.dumps(
            [
                {
                    "call_id": f"b{number}-c{i}",
                    "tool_name": "read_file",
                    "input": {"path": f"src/module_{i}.py"},
                    "status": "succeeded",
                    "output": {"lines": 120, "sha": "0" * 40},
                    "duration_ms": 3,
                }
                for i in range(TOOLCALL_BATCH)
            ]
        ).encode()

    bodies = [batch(n) for n in range(TOOLCALL_BATCHES + 1)]
    warm_up, *timed = bodies
    client.post(endpoint, warm_up, content_type="application/json")
    started = time.perf_counter()
    for body in timed:
        response = client.post(endpoint, body, content_type="application/json")
        assert response.status_code == 201, response.content
    elapsed = time.perf_counter() - started
    rows = 2 * TOOLCALL_BATCH * TOOLCALL_BATCHES
    assert ToolCall.objects.filter(run_id=run_id).count() == rows + 2 * TOOLCALL_BATCH
    return {
        "toolcall_batch": TOOLCALL_BATCH,
        "toolcall_rows_per_s": round(rows / elapsed, 1),
        "toolcall_batch_ms": round(1000 * elapsed / TOOLCALL_BATCHES, 1),
    }


# Agent steps vs raw Celery ------------------------------------------------------------

STEPS = int(os.environ.get("BENCH_STEPS", "200"))
NOOPS = int(os.environ.get("BENCH_NOOPS", "500"))


def _start_worker(queue: str, env: dict[str, str]) -> Any:
    import subprocess

    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
            "--loglevel=WARNING", "--queues", queue, "--without-mingle", "--without-gossip",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def measure_steps() -> dict[str, Any]:
    """Agent steps per second on one worker, with a zero-latency model making one tool call
    per step, against raw Celery no-op tasks per second on the same worker and broker."""
    import uuid

    from django.conf import settings

    from agents.models import AgentState
    from agents.services import orchestrator
    from config.celery import app
    from core.tasks import record_worker_heartbeat
    from tests.fakes.openai_server import FakeOpenAIServer, completion, tool_call

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    settings.AGENT_QUEUE = queue
    owner = bench_owner()
    project = project_create(owner=owner, name=f"steps {queue}")
    agent = services.agent_create(project=project, name="coder", type=Agent.Type.CODER)
    task = Task.objects.create(project=project, key="T1", name="bench")
    with FakeOpenAIServer() as server:
        replies = [
            completion(
                None, tool_calls=[tool_call(f"c{i}", "get_state", {"namespace": "n", "key": "k"})]
            )
            for i in range(STEPS - 1)
        ]
        server.script(
            *replies, completion(None, tool_calls=[tool_call("f", "finish", {"summary": "ok"})])
        )
        env = {
            "LLM_PROVIDER": "openai",
            "LLM_BASE_URL": server.base_url,
            "LLM_API_KEY": "bench",
            "AGENT_QUEUE": queue,
            "AGENT_MAX_TURNS": str(STEPS + 1),
        }
        worker = _start_worker(queue, env)
        try:
            # Warm the worker up (imports, connections) before timing anything.
            record_worker_heartbeat.apply_async(queue=queue)
            beat = AgentState.objects.filter(namespace="system", key="worker-heartbeat")
            _wait(beat.exists, "the worker to start")

            run = services.agent_run_create(project=project, agent=agent, task=task)
            started = time.perf_counter()
            orchestrator.run_start(run=run, max_turns=STEPS + 1)
            done = AgentRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"])
            _wait(done.exists, "the agent run")
            steps_elapsed = time.perf_counter() - started
            assert AgentRun.objects.get(pk=run.pk).status == "succeeded"

            beat.delete()
            noop = app.tasks["celery.accumulate"]
            started = time.perf_counter()
            for i in range(NOOPS):
                noop.apply_async(args=[i], queue=queue)
            record_worker_heartbeat.apply_async(queue=queue)  # the solo worker runs in order
            _wait(beat.exists, "the no-op tasks")
            noop_elapsed = time.perf_counter() - started
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    steps_per_s = STEPS / steps_elapsed
    noop_per_s = (NOOPS + 1) / noop_elapsed
    return {
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "steps": STEPS,
        "steps_per_s": round(steps_per_s, 1),
        "celery_noop_per_s": round(noop_per_s, 1),
        "step_ratio": round(steps_per_s / noop_per_s, 3),
    }


MEASUREMENTS: list[Callable[[], dict[str, Any]]] = [
    measure_steps,
    measure_claims,
    measure_toolcall_ingest,
]


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    # Processes the benchmark starts (claimers, workers) inherit this and set Django up
    # against the benchmark database.
    os.environ["DATABASE_URL"] = database_url()
    try:
        results: dict[str, Any] = {
            "database": connection.vendor,
            "cpus": os.cpu_count(),
        }
        for measure in MEASUREMENTS:
            results.update(measure())
        print(json.dumps(results, indent=2))
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
