"""Fixtures that start a real Celery worker process against the test database and broker."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from kombu import Connection

from config.celery import app as celery_app
from tests.hang import HANG_S

# A bound on a hung worker, not a speed check: a worker that starts Django and Celery on a
# machine busy with other suites can take well over half a minute to deliver its first task.


def _test_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if connection.vendor == "postgresql":
        auth = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            auth += ":" + quote(db["PASSWORD"], safe="")
        return f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    raise NotImplementedError(connection.vendor)


@pytest.fixture
def broker(tmp_path):
    """A connection to the test's broker, and the environment that points a worker at it.

    The filesystem transport gets a private folder (laid out as settings.py lays out
    CELERY_BROKER_DIR); a server broker is shared, so the worker gets a queue of its own.
    """
    env = {"CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
    transport_options = {}
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = tmp_path / "broker"
        for sub in ("queue", "control"):
            (folder / sub).mkdir(parents=True)
        transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
        }
        env["CELERY_BROKER_DIR"] = str(folder)
    with celery_app.connection_for_write(transport_options=transport_options) as conn:
        yield conn, env


def spawn_worker(
    queue: str, env: dict[str, str], log_path: Path, *, pool: str = "solo", hostname: str = ""
) -> subprocess.Popen:
    """Start `celery worker` consuming only `queue` (and, with WORKER_HOST_QUEUE in `env`,
    that host's queue, as every worker does), with `env` on top of the test's, named
    `hostname` (`-n`; by default one made from the queue)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _test_database_url(),
        **env,
    }
    with log_path.open("a") as log:
        return subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker",
                f"--pool={pool}", "--concurrency=1", "--loglevel=INFO",
                "--queues", queue, "--hostname", hostname or f"{queue}-{uuid.uuid4().hex[:4]}@%h",
                "--without-mingle", "--without-gossip", "--without-heartbeat",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def worker(append_only_rows_cleared, broker, tmp_path):
    """Start `celery worker` on a queue no other worker consumes; stop it afterwards."""
    conn, broker_env = broker
    queue = f"test-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path / "worker.log"
    process = spawn_worker(queue, broker_env, log_path)
    try:
        yield process, queue, conn, log_path
    finally:
        stop_worker(process)
        _forget_queue(conn, queue)


def _forget_queue(conn: Connection, queue: str) -> None:
    channel = conn.default_channel
    channel.queue_delete(queue)
    channel.exchange_delete(queue)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, log_path: Path) -> None:
    """Poll `condition` until it holds; fail with the worker's log if it dies or times out."""
    deadline = time.monotonic() + HANG_S
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            log = log_path.read_text()[-4000:]
            pytest.fail(f"the worker did not deliver (exit code {process.returncode}):\n{log}")
        time.sleep(0.2)


APPEND_ONLY_MODELS = (
    "agents.ToolCall",
    "agents.DecisionLog",
    "agents.PlanningCycle",
    "agents.Metric",
    "planning.DevPlanVersion",
)


@pytest.fixture
def append_only_rows_cleared(transactional_db):
    """Let a transactional test's teardown empty the append-only tables on SQLite.

    Django flushes SQLite with DELETE, which the append-only triggers reject. Test-only:
    each DELETE guard is put back at once. (PostgreSQL's flush is a TRUNCATE, which
    `tests.conftest.audit_tables_truncated_by_the_flush` lets through.)
    """
    yield
    if connection.vendor != "sqlite":
        return
    from django.apps import apps

    from core.db import GuardTable

    with connection.cursor() as cursor:
        for label in APPEND_ONLY_MODELS:
            model = apps.get_model(label)
            guard = GuardTable(model._meta.model_name, reject_update=False)
            table = model._meta.db_table
            for statement in guard.drop_sql(table, "sqlite"):
                cursor.execute(statement)
            cursor.execute(f"DELETE FROM {table}")
            for statement in guard.create_sql(table, "sqlite"):
                cursor.execute(statement)
            cursor.execute(f"DELETE FROM {table}")
            for statement in guard.create_sql(table, "sqlite"):
                cursor.execute(statement)
