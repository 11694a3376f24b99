"""A real Celery worker process runs a task from the broker and writes to the test database."""

import uuid

import pytest
from django.db import connection

from agents.models import AgentState
from agents.tasks import record_worker_heartbeat
from tests.celery_worker import spawn_worker, stop_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_runs_a_task_and_writes_to_the_database(worker):
    process, queue, conn, log_path = worker
    heartbeat = AgentState.objects.filter(project=None, namespace="system", key="worker-heartbeat")
    assert not heartbeat.exists()

    record_worker_heartbeat.apply_async(queue=queue, connection=conn)

    wait_for(heartbeat.exists, process, log_path)
    value = heartbeat.get().value
    assert value["hostname"].startswith(f"{queue}-")  # this worker, not some other one
    assert value["at"]


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pooling is PostgreSQL's")
def test_a_prefork_worker_keeps_its_database_connection_across_tasks(
    append_only_rows_cleared, broker, tmp_path
):
    """Celery's Django fixup would close the psycopg pool at every task boundary, so each
    task opened a new PostgreSQL session (celery/celery#10554); CELERY_DB_REUSE_MAX and
    config/celery.py keep one for the process."""
    conn, broker_env = broker
    queue = f"test-{uuid.uuid4().hex[:12]}"
    app_name = f"crewboard-test-{queue}"
    log_path = tmp_path / "worker.log"
    process = spawn_worker(queue, {**broker_env, "PGAPPNAME": app_name}, log_path, pool="prefork")
    heartbeat = AgentState.objects.filter(project=None, namespace="system", key="worker-heartbeat")

    def run_one_task() -> None:
        before = heartbeat.values_list("value", flat=True).first()
        record_worker_heartbeat.apply_async(queue=queue, connection=conn)
        wait_for(
            lambda: heartbeat.values_list("value", flat=True).first() != before, process, log_path
        )

    def worker_sessions() -> set[tuple[int, object]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = %s",
                [app_name],
            )
            return set(cursor.fetchall())

    try:
        run_one_task()
        after_first = worker_sessions()
        for _ in range(4):
            run_one_task()
        assert after_first, "the worker gave its connection up after the task"
        assert worker_sessions() == after_first
    finally:
        stop_worker(process)
        conn.default_channel.queue_delete(queue)
