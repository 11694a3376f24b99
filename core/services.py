"""Writes that belong to no single app: the worker heartbeat."""

from django.db import transaction
from django.utils import timezone

from agents.models import AgentState

HEARTBEAT_NAMESPACE = "system"
HEARTBEAT_KEY = "worker-heartbeat"


@transaction.atomic
def worker_heartbeat_record(*, hostname: str) -> AgentState:
    """Upsert the global `system/worker-heartbeat` state with this worker's name and the time."""
    state, _ = AgentState.objects.update_or_create(
        project=None,
        namespace=HEARTBEAT_NAMESPACE,
        key=HEARTBEAT_KEY,
        defaults={"value": {"hostname": hostname, "at": timezone.now().isoformat()}},
    )
    return state
