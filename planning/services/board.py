"""Moving a task between the board's columns: the rules a hand-made move keeps, then the
same status change as everywhere else (task_set_status)."""

from django.db import transaction

from core.errors import ConflictError
from planning.models import Task, TaskDependency
from planning.services.items import task_set_status

# Statuses that mean work has started on a task, or ended: neither may be reached while
# a task waits for another.
WORK_STATUSES = (Task.Status.IN_PROGRESS, Task.Status.REVIEW, Task.Status.DONE)


@transaction.atomic
def task_move(*, task: Task, status: str) -> Task:
    """Move `task` to `status` as a person moving its card does.

    Raises ConflictError naming the unfinished dependencies when the move would start or
    finish a task that still waits for them; the task is left unchanged.
    """
    if status in WORK_STATUSES and status != task.status:
        waiting_for = list(
            TaskDependency.objects.filter(task=task)
            .exclude(depends_on__status=Task.Status.DONE)
            .order_by("depends_on__key")
            .values_list("depends_on__key", flat=True)
        )
        if waiting_for:
            label = Task.Status(status).label.lower()
            raise ConflictError(
                f"{task.key} cannot move to {label}: it waits for {', '.join(waiting_for)}, "
                f"not done yet."
            )
    return task_set_status(task=task, status=status)
