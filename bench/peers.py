"""Crewboard against its peers and floors, measured side by side in one run (bench/agents.py
prints these with its other figures; BENCH_ONLY=langgraph,claim_floor runs just these).

- `step_vs_langgraph`: durable agent steps per second in one process, Crewboard against
  LangGraph. Crewboard's side runs `step_execute` (what a Celery worker runs for a step)
  in a loop, with the offline model scripted to ask for one tool call per step
  (`get_state`), the run's last step calling `finish`, and an in-memory broker, so that
  publishing the next step costs nothing. LangGraph's side is the same loop as a
  `StateGraph` (a model node that returns one tool call, a tool node that answers it)
  checkpointed by `PostgresSaver` on the same PostgreSQL, with `durability="sync"`: each
  step's checkpoint is written before the next step starts, as each of Crewboard's steps
  commits before the next is published. `langgraph_async_steps_per_s` is LangGraph's
  default `durability="async"`, for reference. Both sides run PEER_RUNS runs of
  PEER_STEPS steps after an untimed warm-up run.
- `claim_vs_drf_floor`: claims per second through the API (CLAIMERS processes; the same
  race as `claims_per_s`) against requests per second, from the same number of
  processes and the same in-process client, to a trivial DRF endpoint authenticated
  with the same agent key: the floor under any claim through the API.
"""

import multiprocessing
import os
import time
import uuid
from typing import Any, Literal

# Sets Django up, as every benchmark does, before anything else of Django is imported.
from bench.step_runs import PEER_STEPS, TIMEOUT_S, bench_owner, in_spawned_process, queued_runs

# isort: split
from django.db import connection, connections
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from agents.auth import AgentKeyAuthentication, IsWorkingAgent
from agents.keys import KEY_PREFIX, agent_key_hash
from agents.models import Agent, AgentRun
from planning.services import project_create

PEER_RUNS = int(os.environ.get("BENCH_PEER_RUNS", "30"))
CLAIMERS = int(os.environ.get("BENCH_CLAIMERS", "8"))
FLOOR_REQUESTS = int(os.environ.get("BENCH_CLAIM_TASKS", "1000"))


# A durable step against LangGraph ----------------------------------------------------


def _crewboard_runs(runs: int, label: str) -> float:
    """Seconds for `runs` runs of PEER_STEPS steps, each step run in this process."""
    from agents.runtime.steps import step_execute
    from agents.services.runs import run_start

    created = queued_runs(f"peer steps {label}", runs, key="T")
    project = created[0].project
    started = time.perf_counter()
    for run in created:
        run_start(run=run, max_turns=PEER_STEPS)
        for number in range(1, PEER_STEPS + 1):
            step_execute(run_id=run.pk, number=number)
    elapsed = time.perf_counter() - started
    succeeded = AgentRun.objects.filter(project=project, status="succeeded").count()
    if succeeded != runs:
        raise RuntimeError(f"{label}: {succeeded} of {runs} runs succeeded")
    return elapsed


def _langgraph_runs(runs: int, durability: Literal["sync", "async"], saver: Any) -> float:
    """Seconds for `runs` runs of the same loop as a checkpointed LangGraph graph."""
    import operator
    from typing import Annotated, TypedDict

    from langchain_core.runnables import RunnableConfig
    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        messages: Annotated[list[dict[str, Any]], operator.add]
        step: int

    def model(state: State) -> dict[str, Any]:
        step = state["step"] + 1
        tool = "finish" if step >= PEER_STEPS else "get_state"
        call = {"id": f"call-{step}", "name": tool, "arguments": '{"namespace": "bench"}'}
        return {"messages": [{"role": "assistant", "tool_calls": [call]}], "step": step}

    def tool(state: State) -> dict[str, Any]:
        call = state["messages"][-1]["tool_calls"][0]
        return {"messages": [{"role": "tool", "tool_call_id": call["id"], "content": "null"}]}

    def route(state: State) -> str:
        return END if state["step"] >= PEER_STEPS else "tool"

    # Context, input and output spelt out: mypy leaves their defaults (the state) unsolved.
    graph: StateGraph[State, None, State, State] = StateGraph(State)
    graph.add_node("model", model)
    graph.add_node("tool", tool)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tool", END])
    graph.add_edge("tool", "model")
    app = graph.compile(checkpointer=saver)
    started = time.perf_counter()
    for number in range(runs):
        config: RunnableConfig = {
            "configurable": {"thread_id": f"{durability}-{uuid.uuid4().hex}-{number}"}
        }
        start: State = {"messages": [{"role": "user", "content": "bench"}], "step": 0}
        final = app.invoke(start, config, durability=durability)
        if final["step"] != PEER_STEPS:
            raise RuntimeError(f"LangGraph stopped at step {final['step']}")
    return time.perf_counter() - started


def _conninfo() -> str:
    db = connection.settings_dict
    parts = {
        "host": db["HOST"] or "localhost",
        "port": db["PORT"] or 5432,
        "dbname": db["NAME"],
        "user": db["USER"],
        "password": db["PASSWORD"],
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


def _peer_steps(results: Any) -> None:
    """In a spawned process whose broker is in memory: both sides, one after the other."""
    try:
        from langgraph.checkpoint.postgres import PostgresSaver

        import bench.step_worker  # noqa: F401  (registers the scripted offline model)

        _crewboard_runs(1, "warm-up")
        crewboard_s = _crewboard_runs(PEER_RUNS, "timed")
        with PostgresSaver.from_conn_string(_conninfo()) as saver:
            saver.setup()
            _langgraph_runs(1, "sync", saver)
            sync_s = _langgraph_runs(PEER_RUNS, "sync", saver)
            async_s = _langgraph_runs(PEER_RUNS, "async", saver)
        results.put(((crewboard_s, sync_s, async_s), None))
    except BaseException as exc:
        results.put((None, repr(exc)))
    finally:
        connections.close_all()


def measure_langgraph() -> dict[str, Any]:
    if connection.vendor != "postgresql":
        raise RuntimeError("LangGraph's PostgresSaver needs PostgreSQL: set DATABASE_URL.")
    timings = in_spawned_process(_peer_steps, "the step comparison")
    crewboard_s, sync_s, async_s = timings
    steps = PEER_RUNS * PEER_STEPS
    crewboard, langgraph, langgraph_async = steps / crewboard_s, steps / sync_s, steps / async_s
    return {
        "peer_runs": PEER_RUNS,
        "peer_steps_per_run": PEER_STEPS,
        "crewboard_inprocess_steps_per_s": round(crewboard, 1),
        "langgraph_steps_per_s": round(langgraph, 1),
        "langgraph_async_steps_per_s": round(langgraph_async, 1),
        "step_vs_langgraph": round(crewboard / langgraph, 3),
    }


# Claims against a trivial authenticated endpoint --------------------------------------


class FloorView(APIView):
    """The least an authenticated agent request does: check the key, answer."""

    authentication_classes = [AgentKeyAuthentication]
    permission_classes = [IsWorkingAgent]

    def post(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [path("floor/", FloorView.as_view())]


def _floor_client(keys: list[str], requests: int, start: Any, results: Any) -> None:
    """In a spawned process: `requests` posts to the floor endpoint, cycling the keys."""
    try:
        from django.conf import settings
        from django.urls import clear_url_caches

        settings.ROOT_URLCONF = __name__
        clear_url_caches()
        client = APIClient()

        def post(key: str) -> None:
            client.credentials(HTTP_AUTHORIZATION=f"Agent {key}")
            response = client.post("/floor/")
            assert response.status_code == 200, response.content

        post(keys[0])  # Django's lazy setup, as the claimers' warm-up claim
        start.wait(timeout=TIMEOUT_S)
        for number in range(requests):
            post(keys[number % len(keys)])
        results.put((requests, None))
    except BaseException as exc:
        results.put((0, repr(exc)))
    finally:
        connections.close_all()


def _floor_per_s() -> float:
    project = project_create(owner=bench_owner(), name="claim floor")
    per_process = FLOOR_REQUESTS // CLAIMERS
    keys = [[f"{KEY_PREFIX}floor-{p}-{n}" for n in range(4)] for p in range(CLAIMERS)]
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
        context.Process(target=_floor_client, args=(process_keys, per_process, start, results))
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
        raise RuntimeError(f"a floor client failed: {errors[0]}")
    return float(sum(count for count, _ in outcomes)) / elapsed


def measure_claim_floor(claims_per_s: float) -> dict[str, Any]:
    floor = _floor_per_s()
    return {
        "drf_floor_per_s": round(floor, 1),
        "claim_vs_drf_floor": round(claims_per_s / floor, 3),
    }
