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
  Before the start, each process makes one claim in a project without tasks, so that the
  timing leaves out Django's lazy setup of a new process.
- `toolcall_rows_per_s`: ToolCall rows written per second through the batch API by one
  client: BENCH_TOOLCALL_BATCHES batches of BENCH_TOOLCALL_BATCH tool calls, each reported
  with its status, so two rows (started and completion) per call.

- `steps_per_s`: agent steps per second on one Celery worker (bench/step_worker.py:
  prefork, one process per core, as the Procfile runs it) with a zero-latency model (the
  offline provider, scripted to ask for one tool call per step): BENCH_STEP_RUNS runs of
  BENCH_STEPS_PER_RUN steps, all started at once, after a few untimed warm-up runs.
  `celery_noop_per_s` is raw Celery no-op tasks per second on the same worker and broker
  (BENCH_NOOPS published at once, timed until all are acknowledged), and `step_ratio`
  their ratio. `steps_sdk_per_s` and `step_ratio_sdk` are the same with the openai
  provider, through the SDK and HTTP, against a loopback server that answers at once.
  `step_floor_per_s` and `step_floor_ratio` are the floor under any durable step on the
  same worker: chains of tasks that each commit two transactions of one trivial
  statement (the fewest a step can make: the model's reply with its calls' "started"
  rows before any tool runs, then the tool's effects with its completion row) and
  publish the next, doing nothing else. Needs Redis as the broker.

- `step_vs_langgraph` and `claim_vs_drf_floor`: see bench/peers.py.
- `round_trips_per_step` and `round_trips_per_claim`: see bench/round_trips.py.

Every measurement is a function in MEASUREMENTS that returns a dict of figures; main()
creates the database, runs each in turn and prints the merged result. BENCH_ONLY picks
some by name, without the `measure_` prefix: BENCH_ONLY=steps,claims.
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
from agents.keys import KEY_PREFIX, agent_key_hash  # noqa: E402
from agents.models import Agent, AgentRun, ToolCall  # noqa: E402
from planning.models import Project, Task  # noqa: E402
from planning.services import project_create  # noqa: E402

CLAIMERS = int(os.environ.get("BENCH_CLAIMERS", "8"))
CLAIM_TASKS = int(os.environ.get("BENCH_CLAIM_TASKS", "1000"))
TOOLCALL_BATCHES = int(os.environ.get("BENCH_TOOLCALL_BATCHES", "20"))
TOOLCALL_BATCH = int(os.environ.get("BENCH_TOOLCALL_BATCH", "500"))
TIMEOUT_S = 600
# e.g. BENCH_ONLY=steps,claims: run only these measurements (names as in MEASUREMENTS).
ONLY = {name for name in os.environ.get("BENCH_ONLY", "").split(",") if name}


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


def _claimer(
    slug: str, keys: list[str], warm_up: tuple[str, str], via: str, start: Any, results: Any
) -> None:
    """In a spawned process (which set Django up against the benchmark database when it
    imported this module): claim with each key in turn until the API answers 204.

    Before the start, one claim in `warm_up` (a project slug and a key of its agent; the
    project has no tasks): a process's first request pays for Django's lazy setup (the
    URLconf and the views it imports, the database connection), which is no claim.
    """
    try:
        slugs = [slug, warm_up[0]]
        agents = (
            {a.api_key_hash: a for a in Agent.objects.filter(project__slug__in=slugs)}
            if via == "service"
            else {}
        )
        client = APIClient()

        def claim(project_slug: str, key: str) -> str | None:
            if via == "service":
                run = services.task_claim(agent=agents[agent_key_hash(key)])
                return None if run is None or run.task is None else run.task.key
            client.credentials(HTTP_AUTHORIZATION=f"Agent {key}")
            response = client.post(f"/api/v1/projects/{project_slug}/tasks/claim/")
            if response.status_code == 204:
                return None
            assert response.status_code == 201, response.content
            return str(response.json()["task"]["key"])

        if claim(*warm_up) is not None:
            raise RuntimeError("the warm-up project has a task")
        claimed: list[str] = []
        start.wait(timeout=TIMEOUT_S)
        for key in keys:
            task_key = claim(slug, key)
            if task_key is None:
                break
            claimed.append(task_key)
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
    warm_up = project_create(owner=bench_owner(), name=f"claims warm-up via {via}")
    warm_up_keys = [f"{KEY_PREFIX}{via}-warm-up-{p}" for p in range(CLAIMERS)]
    Agent.objects.bulk_create(
        Agent(project=warm_up, name=key, type=Agent.Type.EXTERNAL, api_key_hash=agent_key_hash(key))
        for key in warm_up_keys
    )
    connections.close_all()

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(CLAIMERS + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=_claimer,
            args=(project.slug, process_keys, (warm_up.slug, warm_up_key), via, start, results),
        )
        for process_keys, warm_up_key in zip(keys, warm_up_keys, strict=True)
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
    from bench.peers import measure_claim_floor

    api_per_s, api_doubles = _claim_race(via="api")
    service_per_s, service_doubles = _claim_race(via="service")
    return {
        "claimers": CLAIMERS,
        "claim_tasks": CLAIM_TASKS,
        "claims_per_s": round(api_per_s, 1),
        "claims_service_per_s": round(service_per_s, 1),
        "double_claims": api_doubles + service_doubles,
        **measure_claim_floor(api_per_s),
    }


def measure_round_trips() -> dict[str, Any]:
    from bench.round_trips import measure_round_trips as counted

    return counted()


def measure_langgraph() -> dict[str, Any]:
    from bench.peers import measure_langgraph as side_by_side

    return side_by_side()


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

STEP_RUNS = int(os.environ.get("BENCH_STEP_RUNS", "40"))
STEPS_PER_RUN = int(os.environ.get("BENCH_STEPS_PER_RUN", "10"))
NOOPS = int(os.environ.get("BENCH_NOOPS", "2000"))
# As the Procfile runs it: prefork, one process per core.
WORKER_CONCURRENCY = int(os.environ.get("BENCH_WORKER_CONCURRENCY", str(os.cpu_count() or 2)))


def _start_worker(queue: str, env: dict[str, str]) -> Any:
    import subprocess

    return subprocess.Popen(
        [
            sys.executable, str(Path(__file__).resolve().parent / "step_worker.py"),
            "--pool=prefork", f"--concurrency={WORKER_CONCURRENCY}",
            "--loglevel=WARNING", "--queues", queue,
            "--without-mingle", "--without-gossip",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "BENCH_STEPS_PER_RUN": str(STEPS_PER_RUN), "AGENT_QUEUE": queue, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait(condition: Callable[[], bool], what: str, *, every_s: float = 0.005) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(every_s)


def _queue_drained(queue: str) -> Callable[[], bool]:
    """Whether every message of `queue` has been acknowledged. Tasks acknowledge once
    they have run (acks_late), so this is when the worker has run them all."""
    from config.celery import app

    connection = app.connection_for_write()
    # The Redis transport's channel (kombu types it as any transport's): its client is
    # the broker's Redis connection.
    channel: Any = connection.default_channel
    client = channel.client

    def unacked() -> int:
        # Redis keeps every queue's unacknowledged messages in one hash, each as
        # [message, exchange, routing key]; a killed worker's may linger there.
        return sum(1 for raw in client.hvals("unacked") if json.loads(raw)[2] == queue)

    return lambda: client.llen(queue) == 0 and unacked() == 0


def _create_runs(label: str, runs: int) -> tuple[Project, list[AgentRun]]:
    project = project_create(owner=bench_owner(), name=f"steps {label}")
    created = []
    for number in range(runs):
        agent = services.agent_create(project=project, name=f"coder-{number}", type="coder")
        task = Task.objects.create(project=project, key=f"T{number}", name=f"bench {number}")
        created.append(services.agent_run_create(project=project, agent=agent, task=task))
    return project, created


def _run_all(label: str, runs: int) -> float:
    """Start `runs` runs of STEPS_PER_RUN steps at once and wait for them all to end;
    returns the seconds that took."""
    from agents.services.runs import run_start

    project, created = _create_runs(label, runs)
    started = time.perf_counter()
    for run in created:
        run_start(run=run, max_turns=STEPS_PER_RUN)
    ended = AgentRun.objects.filter(project=project, status__in=["succeeded", "failed"])
    # A count on the database the worker uses: asked rarely, so as not to slow it down.
    _wait(lambda: ended.count() == runs, f"the {label} agent runs", every_s=0.05)
    elapsed = time.perf_counter() - started
    steps = AgentRun.objects.filter(project=project, status="succeeded").aggregate(
        n=Count("steps")
    )["n"]
    if steps != runs * STEPS_PER_RUN:
        raise RuntimeError(f"{label}: {steps} steps succeeded of {runs * STEPS_PER_RUN}")
    return elapsed


def _steps_per_s(label: str) -> float:
    """STEP_RUNS runs of STEPS_PER_RUN steps each, all started at once, so the worker
    always has steps waiting: steps per second until every run has finished. A few runs
    go first, untimed, so that every worker process has imported and connected."""
    _run_all(f"{label} warm-up", 2 * WORKER_CONCURRENCY)
    return STEP_RUNS * STEPS_PER_RUN / _run_all(label, STEP_RUNS)


def _noops_per_s(queue: str) -> float:
    """Raw Celery no-op tasks per second on the same worker: NOOPS published at once,
    timed until the worker has run them all."""
    from config.celery import app

    drained = _queue_drained(queue)
    _wait(drained, "the queue to empty")
    noop = app.tasks["celery.accumulate"]
    started = time.perf_counter()
    for i in range(NOOPS):
        noop.apply_async(args=(i,), queue=queue)
    _wait(drained, "the no-op tasks", every_s=0.05)
    return NOOPS / (time.perf_counter() - started)


def _step_floor_per_s(queue: str) -> float:
    """Floor steps per second on the same worker (bench.step_worker.step_floor): STEP_RUNS
    chains of STEPS_PER_RUN tasks, each committing two trivial transactions and
    publishing the next, all started at once; timed until the last has run. Each task is
    published before the one that published it is acknowledged, so the queue is not
    drained before every chain has ended."""
    from bench.step_worker import step_floor

    drained = _queue_drained(queue)
    _wait(drained, "the queue to empty")
    started = time.perf_counter()
    for chain in range(STEP_RUNS):
        step_floor.apply_async(args=(chain, 1), queue=queue)
    _wait(drained, "the floor steps", every_s=0.05)
    return STEP_RUNS * STEPS_PER_RUN / (time.perf_counter() - started)


def measure_steps() -> dict[str, Any]:
    """Agent steps per second on one worker, with a zero-latency model making one tool call
    per step, against raw Celery no-op tasks per second on the same worker and broker.

    `steps_per_s` uses the offline provider in the worker (the model answers in-process,
    in no time); `steps_sdk_per_s` the openai provider, through the SDK and HTTP, against
    a loopback OpenAI-compatible server that answers at once.
    """
    import uuid

    from django.conf import settings

    from bench.step_worker import scripted_call, step_of
    from tests.celery_worker import stop_worker
    from tests.fakes.openai_server import FakeOpenAIServer, completion, tool_call

    def reply(request: Any) -> Any:
        roles = [message["role"] for message in request.json["messages"]]
        call_id, name, arguments = scripted_call(step_of(roles))
        return completion(None, tool_calls=[tool_call(call_id, name, arguments)])

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        raise RuntimeError("The step benchmark runs on Redis: set REDIS_URL.")
    figures: dict[str, float] = {}
    with FakeOpenAIServer(responder=reply) as server:
        workers = {
            "offline": {"LLM_PROVIDER": "offline"},
            "sdk": {
                "LLM_PROVIDER": "openai",
                "LLM_BASE_URL": server.base_url,
                "LLM_API_KEY": "bench",
            },
        }
        for label, env in workers.items():
            queue = f"bench-{label}-{uuid.uuid4().hex[:8]}"
            settings.AGENT_QUEUE = queue
            worker = _start_worker(queue, env)
            try:
                figures[label] = _steps_per_s(label)
                if label == "offline":
                    figures["noop"] = _noops_per_s(queue)
                    figures["floor"] = _step_floor_per_s(queue)
            finally:
                stop_worker(worker)
    return {
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "step_runs": STEP_RUNS,
        "steps_per_run": STEPS_PER_RUN,
        "steps_per_s": round(figures["offline"], 1),
        "celery_noop_per_s": round(figures["noop"], 1),
        "step_ratio": round(figures["offline"] / figures["noop"], 3),
        "step_floor_per_s": round(figures["floor"], 1),
        "step_floor_ratio": round(figures["floor"] / figures["noop"], 3),
        "steps_sdk_per_s": round(figures["sdk"], 1),
        "step_ratio_sdk": round(figures["sdk"] / figures["noop"], 3),
    }


MEASUREMENTS: list[Callable[[], dict[str, Any]]] = [
    measure_round_trips,
    measure_langgraph,
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
            if ONLY and measure.__name__.removeprefix("measure_") not in ONLY:
                continue
            results.update(measure())
        print(json.dumps(results, indent=2))
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
