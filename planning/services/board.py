"""A person's hand on a task: moving it between the board's columns (the rules a hand-made
move keeps, then the same status change as everywhere else, task_set_status), and giving
it to one of the project's agents."""

from django.apps import apps
from django.db import transaction

from core.errors import ConflictError
from planning.models import Task, TaskDependency
from planning.services._common import PlanError
from planning.services.task_items import task_set_status, task_update

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


@transaction.atomic
def task_assign(*, task: Task, agent_id: int | None) -> Task:
    """Give `task` to the project's agent `agent_id`, or to none: a pending task is then
    kept for that agent (the orchestrator and claims hand it to no other).

    Raises PlanError for an agent not of the task's project or terminated, and
    ConflictError for a task in progress: its run belongs to the agent working on it
    (cancel the run first). The task is left unchanged.
    """
    if agent_id == task.assigned_agent_id:
        return task
    if task.status == Task.Status.IN_PROGRESS:
        raise ConflictError(
            f"{task.key} is in progress; cancel its run before giving it to another agent."
        )
    agent = None
    if agent_id is not None:
        # Planning does not import the agents app (its arrows point this way): the model is
        # the one Task.assigned_agent names.
        agents = apps.get_model("agents", "Agent")._default_manager
        agent = agents.filter(project_id=task.project_id, pk=agent_id).first()
        if agent is None:
            raise PlanError("No such agent in this project.", field="assigned_agent")
    return task_update(task=task, data={"assigned_agent": agent})
