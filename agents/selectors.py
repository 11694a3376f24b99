"""Read-side queries for agents. Every selector returns rows already joined for its caller."""

from django.db.models import QuerySet

from agents.models import (
    Agent,
    AgentRun,
    AgentState,
    Checkpoint,
    DecisionLog,
    Metric,
    PlanningCycle,
    ToolCall,
)
from planning.models import Project


def agent_list(*, project: Project) -> QuerySet[Agent]:
    """The project's agents by name, each with its current task."""
    return project.agents.select_related("current_task").order_by("name", "id")


def agent_run_list(*, project: Project) -> QuerySet[AgentRun]:
    """The project's runs, newest first, each with its task."""
    return project.agent_runs.select_related("task").order_by("-created_at", "-id")


def tool_call_list(*, project: Project, completion_rows: bool = False) -> QuerySet[ToolCall]:
    """The project's tool calls, newest first, each with its completion row joined.

    Only started rows unless `completion_rows`, so that each call appears once.
    """
    calls = project.tool_calls.select_related("task", "completion")
    if not completion_rows:
        calls = calls.filter(started__isnull=True)
    return calls.order_by("-id")


def planning_cycle_list(*, project: Project, closing_rows: bool = False) -> QuerySet[PlanningCycle]:
    """The project's planning cycles, newest first, each with its closing row joined.

    Only the opening rows unless `closing_rows`, so that each cycle appears once.
    """
    cycles = project.planning_cycles.select_related("closing")
    if not closing_rows:
        cycles = cycles.filter(opened__isnull=True)
    return cycles.order_by("-id")


def decision_list(*, project: Project) -> QuerySet[DecisionLog]:
    """The project's decisions, newest first."""
    return project.decisions.select_related("task").order_by("-id")


def metric_list(*, project: Project) -> QuerySet[Metric]:
    """The project's metrics, newest first."""
    return project.metrics.select_related("task").order_by("-id")


def checkpoint_list(*, project: Project) -> QuerySet[Checkpoint]:
    """The project's checkpoints, newest first."""
    return project.checkpoints.order_by("-created_at", "-id")


def agent_state_list(*, project: Project) -> QuerySet[AgentState]:
    """The project's agent-state entries by namespace and key."""
    return project.agent_state.order_by("namespace", "key")


def agent_state_get(
    *, project: Project, namespace: str, key: str, for_update: bool = False
) -> AgentState | None:
    """The project's entry at (namespace, key), if any; locked when `for_update`."""
    entries = project.agent_state.filter(namespace=namespace, key=key)
    if for_update:
        entries = entries.select_for_update()
    return entries.first()
