"""After a PostgreSQL restart, a process holding many idle pooled connections answers its
next request at once: the first dead connection found has every idle one replaced.

The restart is played by terminating this test database's backends that the pool holds
(pg_terminate_backend), which leaves the shared server alone."""

import threading
import time

import pytest
from django.db import connection, connections

from core.pool import connection_check
from tests.hang import HANG_S

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="psycopg's pool is PostgreSQL's"
)

IDLE = 6  # enough that the pool's backoff (0 + 1 + 2 + 4 + 8 s) outlasts its timeout


def in_thread(work):
    """Run `work` with a connection of its own, as a request or a task would."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()  # back to the pool

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(HANG_S)
    assert not thread.is_alive()
    return outcome


def backend_pid() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def idle_pooled_connections(count: int) -> list[int]:
    """Make the pool hold `count` idle connections; their backends' pids."""
    pids: list[int] = []
    all_in = threading.Barrier(count, timeout=HANG_S)

    def hold() -> None:
        try:
            pids.append(backend_pid())
            all_in.wait()  # all at once, so each is a connection of its own
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hold) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_S)
    return pids


def settled_idle_pids(pool) -> list[int]:
    """The backends of every connection idle in `pool`, once it has stopped growing.

    Threads that queued for a connection make the pool add more in the background; a
    live one arriving after the "restart" would be handed out first and hide the dead."""
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        with pool._lock:
            if not pool._growing and len(pool._pool) == pool._nconns - 1:  # ours is out
                return [conn.info.backend_pid for conn in pool._pool]
        time.sleep(0.05)
    raise AssertionError(f"the pool never settled: {pool.get_stats()}")


@pytest.mark.django_db(transaction=True)
def test_the_next_request_after_a_restart_gets_a_working_connection():
    pool = connections["default"].pool
    assert pool._check is connection_check
    with connection.cursor() as cursor:  # this thread holds a connection of its own
        cursor.execute("SELECT pg_backend_pid()")
        own = cursor.fetchone()[0]
    held = idle_pooled_connections(IDLE)
    assert len(set(held)) == IDLE and own not in held
    pids = settled_idle_pids(pool)
    assert set(held) <= set(pids) and own not in pids
    with connection.cursor() as cursor:
        # Waits (up to 10 s) for each backend to be gone.
        cursor.execute(
            "SELECT count(*) FROM unnest(%s::int[]) AS pid WHERE pg_terminate_backend(pid, 10000)",
            [pids],
        )
        # Every idle one: more than IDLE when the pool grew for threads that queued.
        assert cursor.fetchone()[0] == len(pids)
    lost_before = pool.get_stats().get("connections_lost", 0)

    answer = in_thread(backend_pid)

    # Unchecked, the pool would hand the dead ones out one by one, sleeping ever longer
    # between them, and give up after its timeout with OperationalError.
    assert "error" not in answer, answer
    assert answer["value"] not in pids
    assert pool.get_stats().get("connections_lost", 0) - lost_before >= len(pids) - 1
