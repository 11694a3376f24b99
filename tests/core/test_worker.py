"""A real Celery worker process runs a task from the broker and writes to the test database."""

import pytest

from agents.models import AgentState
from core.tasks import record_worker_heartbeat
from tests.celery_worker import wait_for

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
