"""Database round trips of an agent step and of a claim through the API: what the
step and claim rates mostly wait on, and a figure the machine's load cannot move
(bench/agents.py prints these with its other figures; BENCH_ONLY=round_trips runs just
these).

A round trip is a message the client sends and then waits for the answer to: each
statement (savepoints and `SET LOCAL` included), the `BEGIN` that psycopg sends before
the first statement of a transaction, and each `COMMIT` or `ROLLBACK` of a transaction
that ran something.

- `round_trips_per_step`: the mean over PEER_STEPS steps of a run, as bench/peers.py
  runs them (`step_execute` in one process, the offline model asking for one
  `get_state` call a step and `finish` at the last; in-memory broker).
- `round_trips_per_claim`: the mean over ROUND_TRIP_CLAIMS claims through the API
  (in-process client, a fresh external agent each), the claim's answer included.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# Sets Django up, as every benchmark does, before anything else of Django is imported.
from bench.step_runs import PEER_STEPS, bench_owner, in_spawned_process, queued_runs

# isort: split
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

ROUND_TRIP_RUNS = 3
ROUND_TRIP_CLAIMS = 20


class RoundTrips:
    """Counts the round trips made on one connection while installed (see `counting`)."""

    def __init__(self, wrapper: BaseDatabaseWrapper) -> None:
        self.wrapper = wrapper
        self.count = 0

    def _in_transaction(self) -> bool:
        raw = self.wrapper.connection
        if raw is None:
            return False
        if self.wrapper.vendor == "postgresql":
            import psycopg

            return bool(raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)
        return bool(raw.in_transaction)

    def execute(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if not self.wrapper.get_autocommit() and not self._in_transaction():
            self.count += 1  # the driver's BEGIN
        self.count += 1
        return execute(sql, params, many, context)

    def ending(self, end: Callable[[], None]) -> Callable[[], None]:
        def counted() -> None:
            if self._in_transaction():
                self.count += 1
            end()

        return counted


@contextmanager
def counting(wrapper: BaseDatabaseWrapper = connection) -> Iterator[RoundTrips]:
    trips = RoundTrips(wrapper)
    # Django's own hooks for the wrapper's commit and rollback are these two methods.
    commit, rollback = wrapper._commit, wrapper._rollback  # type: ignore[attr-defined]
    wrapper._commit = trips.ending(commit)  # type: ignore[attr-defined]
    wrapper._rollback = trips.ending(rollback)  # type: ignore[attr-defined]
    try:
        with wrapper.execute_wrapper(trips.execute):
            yield trips
    finally:
        del wrapper._commit, wrapper._rollback  # type: ignore[attr-defined]


def _step_round_trips(results: Any) -> None:
    """In a spawned process whose broker is in memory: round trips of a run's steps."""
    try:
        import bench.step_worker  # noqa: F401  (registers the scripted offline model)
        from agents.runtime.steps import step_execute
        from agents.services.runs import run_start

        counts = []
        # The first warms the process up.
        for run in queued_runs("round trips of steps", ROUND_TRIP_RUNS + 1, key="RT"):
            run_start(run=run, max_turns=PEER_STEPS)
            with counting() as trips:
                for step in range(1, PEER_STEPS + 1):
                    step_execute(run_id=run.pk, number=step)
            counts.append(trips.count)
        results.put((sum(counts[1:]) / (ROUND_TRIP_RUNS * PEER_STEPS), None))
    except BaseException as exc:
        results.put((None, repr(exc)))
    finally:
        connections.close_all()


def _claim_round_trips() -> float:
    from rest_framework.test import APIClient

    from agents.keys import KEY_PREFIX, agent_key_hash
    from agents.models import Agent
    from planning.models import Task
    from planning.services import project_create

    project = project_create(owner=bench_owner(), name="round trips of claims")
    claims = ROUND_TRIP_CLAIMS + 1  # the first warms the process up
    Task.objects.bulk_create(
        Task(project=project, key=f"RC{n:03}", name=f"claim {n}") for n in range(claims)
    )
    keys = [f"{KEY_PREFIX}round-trips-{n}" for n in range(claims)]
    Agent.objects.bulk_create(
        Agent(project=project, name=key, type=Agent.Type.EXTERNAL, api_key_hash=agent_key_hash(key))
        for key in keys
    )
    client = APIClient()
    total = 0
    for number, key in enumerate(keys):
        client.credentials(HTTP_AUTHORIZATION=f"Agent {key}")
        with counting() as trips:
            response = client.post(f"/api/v1/projects/{project.slug}/tasks/claim/")
        if response.status_code != 201:
            raise RuntimeError(f"a claim answered {response.status_code}: {response.content!r}")
        if number:
            total += trips.count
    return total / ROUND_TRIP_CLAIMS


def measure_round_trips() -> dict[str, Any]:
    per_step = in_spawned_process(_step_round_trips, "counting a step's round trips")
    return {
        "round_trips_per_step": round(per_step, 1),
        "round_trips_per_claim": round(_claim_round_trips(), 1),
    }
