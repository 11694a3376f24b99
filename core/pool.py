"""The check psycopg_pool runs on each PostgreSQL connection it hands out.

After a server restart every idle connection in a process's pool is dead. The pool's own
check finds them one checkout at a time, and waits between tries with its reconnection
backoff (0, 1, 2, 4, 8 s…): with five or more idle connections the first request after a
restart waits out the pool's timeout and fails. This check drops every dead idle
connection as soon as it meets the first one, so the next try gets a new connection.
Imports nothing of Django: settings name it.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool


def connection_check(conn: Connection[Any]) -> None:
    """Raise when `conn` is broken, after checking (and replacing) every connection idle
    in its pool; return quietly when it works."""
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        # psycopg_pool marks the connections it hands out with their pool.
        pool = getattr(conn, "_pool", None)
        if isinstance(pool, ConnectionPool):
            pool.check()
        raise
