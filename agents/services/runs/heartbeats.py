"""A worker's heartbeat on the run whose work it carries out.

A run's lease is long while its work waits in a queue (AGENT_LEASE_SECONDS), so that a
busy queue does not make the sweep deliver it twice. While a worker carries the work
out, the run holds a short worker lease instead (AGENT_WORKER_LEASE_S), which a thread of
the worker renews every WORKER_HEARTBEAT_S, apart from the work itself (a model call, a
command, a check may take minutes). A worker that is killed stops renewing it, so the
sweep delivers the run's work again within about AGENT_WORKER_LEASE_S + STALE_RUN_SWEEP_S.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.utils import timezone

from agents.models import AgentRun
from agents.services.runs.delivery import _held_by_worker, _lease

logger = logging.getLogger(__name__)


class _Heartbeat(threading.Thread):
    def __init__(self, run_id: int) -> None:
        super().__init__(name=f"run-{run_id}-heartbeat", daemon=True)
        self.run_id = run_id
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.wait(settings.WORKER_HEARTBEAT_S):
                now = timezone.now()
                lease = now + timedelta(seconds=settings.AGENT_WORKER_LEASE_S)
                try:
                    AgentRun.objects.filter(pk=self.run_id, status=AgentRun.Status.RUNNING).update(
                        heartbeat_at=now, lease_expires_at=lease, updated_at=now
                    )
                except DatabaseError as exc:
                    # The next beat tries again; the lease outlasts two missed beats.
                    logger.warning("Heartbeat of run %s not recorded: %s", self.run_id, exc)
        finally:
            connections.close_all()  # this thread's own connection

    def stop(self) -> None:
        self.stopping.set()
        # A beat waiting for a busy database ends on its own; no need to wait for it.
        self.join(timeout=settings.WORKER_HEARTBEAT_S)


@contextmanager
def run_held_by_worker(*, run_id: int) -> Iterator[None]:
    """Carry out run `run_id`'s work under the worker lease, renewed by a heartbeat
    thread until the work returns or raises; then, if the run is still running (its next
    step waits in a queue), give it the queue lease again.

    Inside a transaction (a task run eagerly, as in tests) there is no heartbeat: another
    connection could not see the run, or would wait for the caller's locks.
    """
    token = _held_by_worker.set(run_id)
    heartbeat = None if connection.in_atomic_block else _Heartbeat(run_id)
    if heartbeat is not None:
        heartbeat.start()
    try:
        yield
    finally:
        _held_by_worker.reset(token)
        if heartbeat is not None:
            heartbeat.stop()
            now = timezone.now()
            AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.RUNNING).update(
                lease_expires_at=_lease(now), updated_at=now
            )
