"""What agents' work does to a task: QA iterations counted, its worktree recorded, the
task settled when a run ends, and merged when its work lands."""

from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.db import prepared_cursor
from core.errors import DomainError
from planning import run_end_statements as statements
from planning.models import Task
from planning.services.rollup import plan_status_rollup
from planning.services.task_items import _stamp_status_times


def task_qa_iteration_add(*, task_id: int) -> int:
    """Count one more failed verification of a task; returns the new count (one UPDATE,
    so concurrent counts never lose one)."""
    Task.objects.filter(pk=task_id).update(
        qa_iterations=F("qa_iterations") + 1, updated_at=timezone.now()
    )
    return int(Task.objects.values_list("qa_iterations", flat=True).get(pk=task_id))


def task_worktree_set(*, task_id: int, path: str, branch: str, only_if_path: str = "") -> bool:
    """Record (or, with blanks, clear) the worktree a task is being worked on in; with
    `only_if_path`, only while it still records that one. One UPDATE: it is on the path
    of every coding run's start. Returns whether the task changed."""
    tasks = Task.objects.filter(pk=task_id)
    if only_if_path:
        tasks = tasks.filter(worktree_path=only_if_path)
    return bool(tasks.update(worktree_path=path, branch_name=branch, updated_at=timezone.now()))


CLOSED_STATUSES = statements.CLOSED_STATUSES  # planning.services names it for agents


def task_release(
    *,
    task_id: int,
    status: str,
    agent_id: int | None = None,
    held_only: bool = False,
    coded_by_id: int | None = None,
    project_id: int | None = None,
) -> bool:
    """Settle a task an agent has let go of: unassign it and move it to `status`, stamping
    or clearing completed_at, in one UPDATE (an agent's run ends with this; a task that
    was deleted meanwhile is ignored). Returns whether the task was settled.

    With `agent_id`, the task is settled only while it is still that agent's (or no
    one's), and a closed task (CLOSED_STATUSES) keeps its status: a task that someone
    gave to another agent, or closed, while the run went on is not overwritten by the
    run's end. With `held_only` too, only a task still in progress and assigned to that
    agent is settled. `coded_by_id` records the agent whose work it is (kept after the
    task is done). A settled task's status is rolled up (plan_status_rollup) in the
    caller's transaction; `project_id`, when the caller knows it, saves looking it up.
    Raises DomainError for an unknown status.
    """
    if status not in Task.Status.values:
        raise DomainError(f"{status!r} is not a task status.", field="status")
    done = status == Task.Status.DONE
    held = "" if not held_only else "agent" if agent_id is not None else "none"
    sql = statements.task_settle(
        connection.vendor,
        done=done,
        coded_by=coded_by_id is not None,
        held=held,
        by_agent=agent_id is not None,
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # Never before started_at (a clock that stepped back): the time goes in twice.
    params: list[Any] = [status, *([now, now] if done else []), now]
    if coded_by_id is not None:
        params.append(coded_by_id)
    params.append(task_id)
    params += [agent_id] * ((held == "agent") + (agent_id is not None))
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        settled = bool(cursor.rowcount)
    if settled:
        if project_id is None:
            project_id = Task.objects.values_list("project_id", flat=True).get(pk=task_id)
        plan_status_rollup(project_id=project_id, task_ids=[task_id])
    return settled


@transaction.atomic
def task_merged(
    *,
    task_id: int,
    merge_commit: str,
    merged_by_id: int | None = None,
    merged_by_agent_id: int | None = None,
) -> Task:
    """A task's work has landed on the base branch: it is done, with who merged it and
    the commit, and the tasks that depend on it become ready."""
    task = Task.objects.select_for_update().get(pk=task_id)
    task.merge_commit = merge_commit
    task.merged_by_id = merged_by_id
    task.merged_by_agent_id = merged_by_agent_id
    task.assigned_agent = None
    task.status = Task.Status.DONE
    changed = ["merge_commit", "merged_by", "merged_by_agent", "assigned_agent", "status"]
    changed += _stamp_status_times(task)
    task.save(update_fields=[*changed, "updated_at"])
    plan_status_rollup(project_id=task.project_id, task_ids=[task.pk])
    return task
