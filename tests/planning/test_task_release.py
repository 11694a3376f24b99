"""task_release's one prepared UPDATE settles a task as the queryset it replaced did."""

import itertools
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from planning import services
from planning.models import Task
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db

SETTLED = ("status", "assigned_agent_id", "completed_at", "coded_by_id")


def _queryset_release(
    *, task_id: int, status: str, agent_id: int | None, held_only: bool, coded_by_id: int | None
) -> bool:
    """The UPDATE task_release made as a queryset, as the reference."""
    now = Value(timezone.now(), output_field=DateTimeField())
    done_at = Coalesce(Greatest(now, "started_at"), now)
    new_status: Any = Value(status)
    completed_at: Any = Coalesce("completed_at", done_at) if status == Task.Status.DONE else None
    tasks = Task.objects.filter(pk=task_id)
    if held_only:
        tasks = tasks.filter(status=Task.Status.IN_PROGRESS, assigned_agent_id=agent_id)
    if agent_id is not None:
        tasks = tasks.filter(Q(assigned_agent__isnull=True) | Q(assigned_agent_id=agent_id))
        closed = Q(status__in=services.CLOSED_STATUSES)
        new_status = Case(When(closed, then=F("status")), default=new_status)
        completed_at = Case(When(closed, then=F("completed_at")), default=completed_at)
    extra = {} if coded_by_id is None else {"coded_by_id": coded_by_id}
    return bool(
        tasks.update(
            status=new_status,
            assigned_agent=None,
            completed_at=completed_at,
            updated_at=now,
            **extra,
        )
    )


def _state(task: Task) -> tuple[Any, ...]:
    task.refresh_from_db()
    # The time is the call's own: only whether it is kept, set or cleared is compared.
    stamped = "kept" if task.completed_at == task.started_at else task.completed_at is not None
    return (*[getattr(task, name) for name in SETTLED[:2]], stamped, task.coded_by_id)


def test_every_kind_of_release_settles_the_task_as_the_queryset_did(project):
    agent, other = AgentFactory(project=project), AgentFactory(project=project)
    later = timezone.now() + timedelta(hours=1)  # started "after" now: a clock that stepped back
    cases = itertools.product(
        ("done", "failed", "pending"),  # the status given
        ("in_progress", "cancelled", "done"),  # the task's status
        (None, agent, other),  # whom the task is assigned to
        (None, agent),  # agent_id
        (False, True),  # held_only
        (None, agent),  # coded_by
        (None, later),  # started_at
    )
    for status, current, holder, by, held_only, coded_by, started in cases:
        if held_only and by is None:
            continue  # a held task is held by someone
        done_at = later if current == "done" else None
        tasks = [
            TaskFactory(
                project=project,
                status=current,
                assigned_agent=holder,
                started_at=started,
                completed_at=done_at,
            )
            for _ in range(2)
        ]
        arguments = {
            "status": status,
            "agent_id": by and by.pk,
            "held_only": held_only,
            "coded_by_id": coded_by and coded_by.pk,
        }
        settled = services.task_release(task_id=tasks[0].pk, project_id=project.pk, **arguments)
        expected = _queryset_release(task_id=tasks[1].pk, **arguments)
        case = (status, current, holder, by, held_only, coded_by, started)
        assert (settled, _state(tasks[0])) == (expected, _state(tasks[1])), case
