"""Checkpoints and the agent state store, with the worker heartbeat kept in it."""

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from agents import selectors
from agents.models import (
    AgentState,
    Checkpoint,
)
from core.services import instance_insert, model_update
from planning.models import Project

# Checkpoints --------------------------------------------------------------------------

CHECKPOINT_EDITABLE_FIELDS = ("name", "reason")


@transaction.atomic
def checkpoint_create(
    *,
    project: Project,
    name: str,
    reason: str = "",
    state: Any = None,
    git_commit: str = "",
) -> Checkpoint:
    """Capture project state under a name. Raises ValidationError for an over-long field."""
    checkpoint = Checkpoint(
        project=project,
        name=name,
        reason=reason,
        state={} if state is None else state,
        git_commit=git_commit,
    )
    checkpoint.full_clean()
    checkpoint.save()
    return checkpoint


@transaction.atomic
def checkpoint_update(*, checkpoint: Checkpoint, data: Mapping[str, Any]) -> Checkpoint:
    """Rename a checkpoint or change its reason. Its state is fixed at creation (DomainError)."""
    model_update(instance=checkpoint, data=data, allowed=CHECKPOINT_EDITABLE_FIELDS)
    return checkpoint


@transaction.atomic
def checkpoint_delete(*, checkpoint: Checkpoint) -> None:
    """Delete a checkpoint; nothing refers to one."""
    checkpoint.delete()


# Agent state --------------------------------------------------------------------------

AGENT_STATE_FIELDS = ("namespace", "key", "value")


@transaction.atomic
def agent_state_create(
    *, project: Project, namespace: str, key: str, value: Any = None
) -> AgentState:
    """Store a new entry; without a value it holds null. Raises ValidationError when
    (namespace, key) is taken, and ConflictError when another request takes it at once."""
    return instance_insert(
        instance=AgentState(project=project, namespace=namespace, key=key, value=value)
    )


@transaction.atomic
def agent_state_update(*, entry: AgentState, data: Mapping[str, Any]) -> AgentState:
    """Change an entry's value or move it. Raises ValidationError when the new key is taken."""
    model_update(instance=entry, data=data, allowed=AGENT_STATE_FIELDS)
    return entry


@transaction.atomic
def agent_state_set(*, project: Project, namespace: str, key: str, value: Any) -> AgentState:
    """Create or overwrite the entry at (namespace, key) of the project."""
    entry = selectors.agent_state_get(
        project=project, namespace=namespace, key=key, for_update=True
    )
    if entry is not None:
        return agent_state_update(entry=entry, data={"value": value})
    entry = AgentState(project=project, namespace=namespace, key=key, value=value)
    entry.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
    except IntegrityError:
        # Another writer created the key after our look-up; theirs is the row to overwrite.
        entry = AgentState.objects.select_for_update().get(
            project=project, namespace=namespace, key=key
        )
        return agent_state_update(entry=entry, data={"value": value})
    return entry


@transaction.atomic
def agent_state_delete(*, entry: AgentState) -> None:
    """Delete an entry."""
    entry.delete()


# Worker heartbeat ---------------------------------------------------------------------

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
