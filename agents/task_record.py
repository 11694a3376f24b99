"""What agents did on one task, as its page shows it: the latest runs, tool calls and
decisions, its reviews and merges, and a history of what happened when.

Crewboard keeps no separate log of a task's status changes, so the history is derived
from the rows that record them: each run's queueing, start and end, each review's
verdict and each merge's start and end, with the task's own start and completion times.
A fixed number of each is read (one query apiece), whatever the task's past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agents.models import AgentRun, DecisionLog, Merge, Review, ToolCall
from planning.models import Task

RUNS_SHOWN = 20
CALLS_SHOWN = 10
DECISIONS_SHOWN = 10
REVIEWS_SHOWN = 20
MERGES_SHOWN = 10
# A run started within this of its making was never waiting in a queue.
QUEUED_APART = timedelta(seconds=1)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    what: str
    # Who did it: an agent's name, a person's, or "" when nobody in particular.
    who: str = ""
    run: AgentRun | None = None


@dataclass
class TaskRecord:
    runs: list[AgentRun]
    more_runs: bool
    calls: list[ToolCall]
    decisions: list[DecisionLog]
    reviews: list[Review]
    merges: list[Merge]
    history: list[HistoryEntry]


def task_record(*, task: Task) -> TaskRecord:
    """The task's latest runs, tool calls (started rows, with their completions),
    decisions, reviews and merges, newest first, and the history they make."""
    runs = list(
        AgentRun.objects.filter(task=task)
        .select_related("agent")
        .order_by("-created_at", "-id")[: RUNS_SHOWN + 1]
    )
    calls = list(
        ToolCall.objects.filter(task_id=task.pk, started__isnull=True)
        .select_related("agent", "completion")
        .order_by("-id")[:CALLS_SHOWN]
    )
    decisions = list(
        DecisionLog.objects.filter(task_id=task.pk)
        .select_related("agent")
        .order_by("-id")[:DECISIONS_SHOWN]
    )
    reviews = list(
        Review.objects.filter(task=task)
        .select_related("reviewer", "reviewer_agent")
        .order_by("-created_at", "-id")[:REVIEWS_SHOWN]
    )
    merges = list(
        Merge.objects.filter(task=task)
        .select_related("merged_by", "merger_agent")
        .order_by("-created_at", "-id")[:MERGES_SHOWN]
    )
    shown = runs[:RUNS_SHOWN]
    return TaskRecord(
        runs=shown,
        more_runs=len(runs) > RUNS_SHOWN,
        calls=calls,
        decisions=decisions,
        reviews=reviews,
        merges=merges,
        history=task_history(task=task, runs=shown, reviews=reviews, merges=merges),
    )


def task_history(
    *, task: Task, runs: list[AgentRun], reviews: list[Review], merges: list[Merge]
) -> list[HistoryEntry]:
    """What happened to the task when, newest first, from the rows given."""
    entries: list[HistoryEntry] = []
    for run in runs:
        agent = run.agent.name
        # A claimed run starts as it is made: its start says it all.
        if run.started_at is None or run.started_at - run.created_at > QUEUED_APART:
            entries.append(HistoryEntry(run.created_at, f"Run {run.pk} queued", agent, run))
        if run.started_at:
            attempt = f" (attempt {run.attempt})" if run.attempt > 1 else ""
            entries.append(
                HistoryEntry(run.started_at, f"Run {run.pk} started{attempt}", agent, run)
            )
        if run.finished_at:
            outcome = run.get_status_display().lower()
            entries.append(HistoryEntry(run.finished_at, f"Run {run.pk} {outcome}", agent, run))
    for review in reviews:
        verdict = review.get_verdict_display()
        entries.append(HistoryEntry(review.created_at, f"Review: {verdict}", review.reviewer_label))
    for merge in merges:
        who = _merger(merge)
        entries.append(HistoryEntry(merge.created_at, f"Merge of {merge.branch} queued", who))
        if merge.finished_at:
            outcome = merge.get_status_display().lower()
            entries.append(HistoryEntry(merge.finished_at, f"Merge {outcome}", who))
    if task.started_at:
        entries.append(HistoryEntry(task.started_at, "Work started"))
    if task.completed_at:
        entries.append(HistoryEntry(task.completed_at, "Done"))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries


def _merger(merge: Merge) -> str:
    if merge.merger_agent is not None:
        return merge.merger_agent.name
    if merge.merged_by is not None:
        return merge.merged_by.get_username()
    return ""
