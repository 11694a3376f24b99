"""Read-side queries for agents. Every selector returns rows already joined for its caller."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncDate
from django.http import Http404

from agents import statements
from agents.models import (
    Agent,
    AgentRun,
    AgentState,
    AgentStep,
    Checkpoint,
    DecisionLog,
    Merge,
    Metric,
    PlanningCycle,
    Review,
    RunLogChunk,
    ToolCall,
    Workspace,
)
from core.db import instance_from_row, prepared_cursor
from planning import selectors as planning_selectors
from planning.models import Project, Task


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
    calls = project.tool_calls.select_related("task", "agent", "completion")
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
    """The project's entry at (namespace, key), if any; locked when `for_update`.

    Agents read and write their state at every step, so this is a prepared statement
    (at most one row: agentstate_key_unique_in_project)."""
    sql = statements.agent_state_entry()
    if for_update and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with prepared_cursor() as cursor:
        cursor.execute(sql, (project.pk, namespace, key))
        row = cursor.fetchone()
    if row is None:
        return None
    entry = instance_from_row(AgentState, statements.AGENT_STATE_FIELDS, row)
    entry.project = project
    return entry


# Run pages, the activity feed, usage metrics and the human-checkpoint inbox -------------

ACTIVITY_LIMIT = 100


def agent_run_overview_list(*, project: Project) -> QuerySet[AgentRun]:
    """The project's runs, newest first, with agent and task; the payload (the whole
    opening conversation) is left out."""
    return (
        project.agent_runs.select_related("agent", "task")
        .defer("payload")
        .order_by("-created_at", "-id")
    )


def agent_run_has_active(*, project: Project) -> bool:
    """Whether any of the project's runs is queued or running."""
    return project.agent_runs.filter(status__in=AgentRun.ACTIVE_STATUSES).exists()


def agent_run_get(*, project: Project, run_id: int) -> AgentRun:
    """One of the project's runs with its agent and task. Raises Http404 for any other run."""
    run = project.agent_runs.select_related("agent", "task").filter(pk=run_id).first()
    if run is None:
        raise Http404("No such run in this project.")
    return run


def run_tool_call_get(*, project: Project, run_id: int, call_id: int) -> ToolCall:
    """One tool call of the project's run (its started row, completion joined). Raises
    Http404 for any other call."""
    call = (
        project.tool_calls.filter(run_id=run_id, pk=call_id, started__isnull=True)
        .select_related("completion")
        .first()
    )
    if call is None:
        raise Http404("No such tool call in this run.")
    return call


def agent_step_list(*, run: AgentRun, after: int = 0) -> QuerySet[AgentStep]:
    """The run's steps numbered above `after`, in order."""
    return run.steps.filter(number__gt=after).order_by("number")


def run_tool_call_list(
    *,
    run: AgentRun,
    after_step: int = 0,
    upto_step: int | None = None,
    loose_ids: Collection[int] | QuerySet[ToolCall, int] | None = None,
) -> QuerySet[ToolCall]:
    """The run's tool calls (started rows, each with its completion joined), oldest first:
    those of steps above `after_step`, and those reported without a step; with
    `upto_step`, only those of the steps above `after_step` up to it (a page of steps).
    With `loose_ids`, of the calls without a step only those (a page of the trace); a
    page of `run_loose_call_ids` is read as a subquery, in this same query."""
    if upto_step is None:
        which = Q(step__gt=after_step)
    else:
        which = Q(step__gt=after_step, step__lte=upto_step)
    if isinstance(loose_ids, QuerySet):
        which |= Q(pk__in=loose_ids)
    elif loose_ids is not None:
        which |= Q(pk__in=list(loose_ids))
    elif upto_step is None:
        which |= Q(step__isnull=True)
    return (
        run.tool_calls.filter(started__isnull=True)
        .filter(which)
        .select_related("completion")
        .order_by("id")
    )


def _run_loose_calls(run: AgentRun) -> QuerySet[ToolCall]:
    return run.tool_calls.filter(started__isnull=True, step__isnull=True).order_by(
        "created_at", "id"
    )


def run_loose_call_times(*, run: AgentRun) -> list[tuple[int, datetime]]:
    """(id, when) of the run's tool calls reported without a step, oldest first."""
    return list(_run_loose_calls(run).values_list("id", "created_at"))


def run_loose_call_ids(*, run: AgentRun) -> QuerySet[ToolCall, int]:
    """The ids of the run's tool calls reported without a step, oldest first, unread: a
    live trace pages them (a count, and a slice that `run_tool_call_list` reads with the
    step calls), so a poll costs the same however many calls an agent reported."""
    return _run_loose_calls(run).values_list("id", flat=True)


def run_decision_list(*, run: AgentRun) -> QuerySet[DecisionLog]:
    """The run's decisions, oldest first, each with its task."""
    return run.decisions.select_related("task").order_by("id")


@dataclass(frozen=True)
class ActivityEntry:
    """One line of the activity feed. `item` is the row it is about: a ToolCall (a started
    row, completion joined), DecisionLog, PlanningCycle (opening or closing row) or
    AgentRun (for kinds "run_started" and "run_finished")."""

    at: datetime
    kind: str
    item: Any


def activity_list(*, project: Project, limit: int = ACTIVITY_LIMIT) -> list[ActivityEntry]:
    """The project's latest `limit` events, newest first: tool calls, decisions, planning
    cycles opened and closed, runs started and finished. Five queries, however many rows."""
    calls = (
        project.tool_calls.filter(started__isnull=True)
        .select_related("agent", "task", "completion")
        .order_by("-id")[:limit]
    )
    decisions = project.decisions.select_related("agent", "task").order_by("-id")[:limit]
    cycles = project.planning_cycles.select_related("agent").order_by("-id")[:limit]
    runs = project.agent_runs.select_related("agent", "task").defer("payload")
    started = runs.filter(started_at__isnull=False).order_by("-started_at", "-id")[:limit]
    finished = runs.filter(finished_at__isnull=False).order_by("-finished_at", "-id")[:limit]
    entries = [
        *(ActivityEntry(c.created_at, "tool_call", c) for c in calls),
        *(ActivityEntry(d.created_at, "decision", d) for d in decisions),
        *(
            ActivityEntry(c.created_at, "cycle_closed" if c.opened_id else "cycle_opened", c)
            for c in cycles
        ),
        *(ActivityEntry(r.started_at, "run_started", r) for r in started if r.started_at),
        *(ActivityEntry(r.finished_at, "run_finished", r) for r in finished if r.finished_at),
    ]
    entries.sort(key=lambda e: (e.at, e.item.pk), reverse=True)
    return entries[:limit]


def usage_by_day(*, project: Project, since: datetime) -> QuerySet[Metric, dict[str, Any]]:
    """Tokens, cost and LLM calls per day (UTC), agent and model since `since`, summed in
    SQL: rows of day, agent_id, agent__name, model, tokens, cost, calls."""
    token_usage = Q(type=Metric.Type.TOKEN_USAGE)
    return (
        project.metrics.filter(
            type__in=[Metric.Type.TOKEN_USAGE, Metric.Type.COST], recorded_at__gte=since
        )
        .annotate(day=TruncDate("recorded_at"), model=KeyTextTransform("model", "metadata"))
        .values("day", "agent_id", "agent__name", "model")
        .annotate(
            tokens=Sum("value", filter=token_usage, default=0.0),
            cost=Sum("value", filter=Q(type=Metric.Type.COST), default=0.0),
            calls=Count("id", filter=token_usage),
        )
        .order_by("day", "agent__name", "model")
    )


def human_checkpoint_ready_count(*, project: Project) -> int:
    """How many `checkpoint:*` tasks are ready and waiting for a person, and how many
    tasks are blocked after failing their checks."""
    checkpoints = (
        planning_selectors.task_ready_list(project=project)
        .filter(type__startswith="checkpoint:")
        .count()
    )
    return checkpoints + task_blocked_after_checks_list(project=project).count()


# Plan generation --------------------------------------------------------------------------


def planning_run_list(*, project: Project) -> QuerySet[AgentRun]:
    """The project's plan-generation runs, newest first."""
    return AgentRun.objects.filter(project=project, kind=AgentRun.Kind.PLANNING).order_by(
        "-created_at", "-id"
    )


def planning_run_get(*, project: Project, run_id: int) -> AgentRun:
    """One of the project's plan-generation runs. Raises Http404 for any other run."""
    run = planning_run_list(project=project).filter(pk=run_id).first()
    if run is None:
        raise Http404("No such planning run in this project.")
    return run


def run_log_chunks(*, run: AgentRun, after_seq: int = 0, limit: int = 200) -> list[RunLogChunk]:
    """The run's log chunks after `after_seq`, oldest first, at most `limit` of them."""
    return list(RunLogChunk.objects.filter(run=run, seq__gt=after_seq).order_by("seq")[:limit])


def run_log_tail(*, run: AgentRun, chunks: int) -> tuple[list[RunLogChunk], bool]:
    """The run's last `chunks` log chunks, oldest first, and whether earlier ones exist."""
    last = list(RunLogChunk.objects.filter(run=run).order_by("-seq")[: chunks + 1])
    earlier = len(last) > chunks
    return last[:chunks][::-1], earlier


def run_base_commit(*, run: AgentRun) -> str:
    """The commit the run's worktree started from ("" when it has none)."""
    return Workspace.objects.filter(run=run).values_list("base_commit", flat=True).first() or ""


def task_blocked_after_checks_list(*, project: Project) -> QuerySet[Task]:
    """Tasks whose work failed its checks as often as the project allows, waiting for a
    person to retry, edit or abandon them; each carries its last run's id and error."""
    last_run = AgentRun.objects.filter(task=OuterRef("pk")).order_by("-created_at", "-pk")
    return (
        project.tasks.filter(status=Task.Status.BLOCKED)
        .exclude(type__startswith="checkpoint:")
        .annotate(
            last_run_id=Subquery(last_run.values("pk")[:1]),
            last_run_error=Subquery(last_run.values("error")[:1]),
        )
        .order_by("priority_rank", "key")
    )


# Reviews and merges ---------------------------------------------------------------------

# A task's reviews shown at once (newest first): rounds of review are few in practice.
REVIEWS_SHOWN = 50


def review_list(*, task: Task) -> QuerySet[Review]:
    """The task's reviews, newest first, with their comments, reviewer and agent."""
    return (
        Review.objects.filter(task=task)
        .select_related("reviewer", "reviewer_agent")
        .prefetch_related("comments")
        .order_by("-created_at", "-id")
    )


def agent_run_by_key(*, project: Project, idempotency_key: str) -> AgentRun | None:
    """The project's run with this idempotency key, if any."""
    return AgentRun.objects.filter(project=project, idempotency_key=idempotency_key).first()


def merge_latest(*, task: Task) -> Merge | None:
    """The task's latest merge, if any."""
    return Merge.objects.filter(task=task).order_by("-created_at", "-id").first()


# The checks shown beside a diff: the last ones run on the attempt.
CHECKS_SHOWN = 4


def run_checks(*, run: AgentRun) -> list[ToolCall]:
    """The run's last verification checks (started rows, each with its completion),
    oldest first."""
    latest = (
        run.tool_calls.filter(started__isnull=True, tool_name="verify")
        .select_related("completion")
        .order_by("-id")[:CHECKS_SHOWN]
    )
    return list(latest)[::-1]


def question_answer(*, checkpoint: Task) -> dict[str, Any] | None:
    """The person's answer to a question (the decision that answered its checkpoint), or
    None while it waits."""
    if checkpoint.status not in (Task.Status.DONE, Task.Status.BLOCKED):
        return None
    decision = (
        DecisionLog.objects.filter(task=checkpoint, reasoning__has_key="approved")
        .order_by("-id")
        .first()
    )
    if decision is None or not isinstance(decision.reasoning, dict):
        return {"approved": checkpoint.status == Task.Status.DONE}
    keys = ("approved", "choice", "note", "by")
    return {key: decision.reasoning.get(key) for key in keys}
