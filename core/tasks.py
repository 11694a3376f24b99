import socket

from celery import Task, shared_task
from django.db import OperationalError

from core.services import worker_heartbeat_record


@shared_task(
    bind=True,
    name="core.record_worker_heartbeat",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def record_worker_heartbeat(self: Task) -> None:
    # The worker's node name (celery@host) says which worker answered, not just which machine.
    worker_heartbeat_record(hostname=self.request.hostname or socket.gethostname())
