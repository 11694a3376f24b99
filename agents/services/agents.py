"""Agents: registering, changing, terminating and deleting them."""

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from agents.models import Agent
from agents.services._common import _check_same_project
from agents.workspaces.executors import executor_command_error
from core.errors import ConflictError, DomainError
from core.services import model_update
from planning.models import Executor, Project, Task

# Agents -------------------------------------------------------------------------------

AGENT_FIELDS = (
    "name",
    "type",
    "status",
    "current_task",
    "worktree_path",
    "branch_name",
    "model",
    "executor",
    "executor_command",
    "may_add_tasks",
    "termination_reason",
)


def _stamp_termination(agent: Agent) -> list[str]:
    # The database insists terminated_at is set exactly when the status is terminated.
    if agent.status == Agent.Status.TERMINATED and agent.terminated_at is None:
        agent.terminated_at = timezone.now()
        return ["terminated_at"]
    if agent.status != Agent.Status.TERMINATED and agent.terminated_at is not None:
        agent.terminated_at = None
        return ["terminated_at"]
    return []


def _check_executor(agent: Agent) -> None:
    """A `command` executor needs its argv template; any template is a list of strings."""
    command = agent.executor_command
    if agent.executor == Executor.COMMAND or command not in ([], None):
        problem = executor_command_error(command)
        if problem:
            raise DomainError(problem, field="executor_command")


@transaction.atomic
def agent_create(*, project: Project, name: str, type: str, **fields: Any) -> Agent:
    """Register an agent; one that writes code uses the project's default executor
    unless told otherwise. Raises DomainError when its current task is in another
    project, or its executor is `command` without a valid argv template."""
    agent = Agent(project=project, name=name, type=type)
    if "executor" not in fields and type not in Agent.NOT_DISPATCHED_TYPES:
        agent.executor = project.default_executor

    def derive(changed: list[str]) -> list[str]:
        _check_same_project(project, current_task=agent.current_task)
        _check_executor(agent)
        _stamp_termination(agent)
        return changed

    model_update(instance=agent, data=fields, allowed=AGENT_FIELDS, derive=derive)
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, data: Mapping[str, Any]) -> Agent:
    """Change an agent. Moving to `terminated` stamps terminated_at, and frees the pending
    tasks assigned to it; leaving it clears terminated_at.

    Raises DomainError when the current task is in another project, or the executor is
    `command` without a valid argv template.
    """

    def derive(changed: list[str]) -> list[str]:
        if "current_task" in changed:
            _check_same_project(agent.project, current_task=agent.current_task)
        if "executor" in changed or "executor_command" in changed:
            _check_executor(agent)
        if "status" in changed:
            changed += _stamp_termination(agent)
        return changed

    model_update(instance=agent, data=data, allowed=AGENT_FIELDS, derive=derive)
    if agent.status == Agent.Status.TERMINATED:
        agent_pending_tasks_release(agent=agent)
    return agent


def agent_pending_tasks_release(*, agent: Agent) -> int:
    """Unassign the agent's pending tasks; returns how many. An assignment reserves a
    pending task for its agent (dispatch and claims honour it), so a terminated agent's
    would hold the task back for good. Its other tasks keep it, as history."""
    return Task.objects.filter(assigned_agent=agent, status=Task.Status.PENDING).update(
        assigned_agent=None, updated_at=timezone.now()
    )


def agent_terminate(*, agent: Agent, reason: str = "") -> Agent:
    """Terminate an agent, recording why."""
    return agent_update(
        agent=agent, data={"status": Agent.Status.TERMINATED, "termination_reason": reason}
    )


@transaction.atomic
def agent_delete(*, agent: Agent) -> None:
    """Delete an agent and its runs.

    Raises ConflictError while audit records (tool calls, decisions, ...) refer to it.
    """
    try:
        agent.delete()
    except ProtectedError as exc:
        kinds = sorted({str(type(row)._meta.verbose_name_plural) for row in exc.protected_objects})
        raise ConflictError(
            f"Agent {agent.name} has an audit trail ({', '.join(kinds)}); "
            "terminate it instead of deleting it."
        ) from None
