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
- `buffers_per_step` (PostgreSQL): the pages of the project's tables and their indexes
  that PostgreSQL read or found in its cache over the same steps (their runs' starts
  included), per step: the database's share of a step's work, which the load cannot
  move either. `run_updates_in_place` is the share of the runs' updates made in place
  (heap-only tuples, which add no index entries: a lease's renewal should be one).
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
        before: tuple[int, int, int] | None = None
        # The first warms the process up.
        for number, run in enumerate(
            queued_runs("round trips of steps", ROUND_TRIP_RUNS + 1, key="RT")
        ):
            if number == 1:
                before = _table_counters()
            run_start(run=run, max_turns=PEER_STEPS)
            with counting() as trips:
                for step in range(1, PEER_STEPS + 1):
                    step_execute(run_id=run.pk, number=step)
            counts.append(trips.count)
        steps = ROUND_TRIP_RUNS * PEER_STEPS
        figures: dict[str, float] = {"round_trips_per_step": round(sum(counts[1:]) / steps, 1)}
        after = _table_counters()
        if before is not None and after is not None:
            buffers, updates, in_place = (
                now - then for now, then in zip(after, before, strict=True)
            )
            figures["buffers_per_step"] = round(buffers / steps, 1)
            figures["run_updates_in_place"] = round(in_place / updates, 2) if updates else 0.0
        results.put((figures, None))
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


def _table_counters() -> tuple[int, int, int] | None:
    """PostgreSQL: (pages of the project's tables and indexes read or hit, updates of
    runs, of them in place) as the statistics hold them, this process's own counts
    included: a backend hands its counts over when it goes idle, at most once a second
    unless asked to at the next time. The statistics views are catalogs, which these
    counts leave out. None on other databases."""
    if connection.vendor != "postgresql":
        return None
    from agents.models import AgentRun

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT SUM(heap_blks_read + heap_blks_hit + COALESCE(idx_blks_read, 0) "
            "+ COALESCE(idx_blks_hit, 0) + COALESCE(toast_blks_read, 0) "
            "+ COALESCE(toast_blks_hit, 0) + COALESCE(tidx_blks_read, 0) "
            "+ COALESCE(tidx_blks_hit, 0)) FROM pg_statio_user_tables"
        )
        (pages,) = cursor.fetchone()
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = %s",
            [AgentRun._meta.db_table],
        )
        updates, in_place = cursor.fetchone()
    return int(pages), int(updates), int(in_place)


def measure_round_trips() -> dict[str, Any]:
    figures = in_spawned_process(_step_round_trips, "counting a step's round trips")
    return {**figures, "round_trips_per_claim": round(_claim_round_trips(), 1)}
