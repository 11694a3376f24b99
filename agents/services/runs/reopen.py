"""A finished coding attempt taken up again: a review asked for changes, or its branch
conflicts with the base branch.

```
  succeeded (task in review) ── changes requested ──▶ running, coding (its agent idle)
                                                  ├─▶ queued, coding (its agent busy; it
                                                  │   resumes when the agent is free)
                                                  ├─▶ queued, coding, task pending for
                                                  │   its agent (another task in progress
                                                  │   names one of its files; it resumes
                                                  │   at a dispatch that finds them free)
                                                  └─▶ succeeded, task pending for it (an
                                                      external agent: its next claim
                                                      carries the review)
```
The agent carries on in the same worktree and branch, told why: a built-in agent at its
next step, a coding CLI in a follow-up run of the CLI. Each time counts as a QA
iteration; at the project's limit the task is blocked for a person instead. Like a
claim, going back in progress takes the task's files: two tasks naming one file are never
in progress at once.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from agents.models import Agent, AgentRun
from agents.services.runs.delivery import _agent_busy, _current_step, _enqueue_work, _lease
from core.errors import ConflictError
from planning import services as planning_services
from planning.models import Project, Task

# In a run's result: the run was sent back while its agent was busy, and waits for it.
WAITS_FOR_AGENT = "reopened_waits_for_agent"


@transaction.atomic
def run_changes_requested(*, run_id: int, feedback: str) -> AgentRun:
    """Send a succeeded coding attempt, whose task is in review, back to its agent with
    `feedback`. Returns the run: running again, queued for its busy agent, or (the QA
    limit reached) still succeeded with its task blocked for a person.

    Raises ConflictError when the run is not a finished coding attempt in review.
    """
    # Locks in the usual order: the agent, the run, then the task.
    agent_id = AgentRun.objects.values_list("agent_id", flat=True).get(pk=run_id)
    agent = Agent.objects.select_for_update(no_key=True).get(pk=agent_id)
    run = AgentRun.objects.select_for_update(of=("self",)).select_related("project").get(pk=run_id)
    run.agent = agent
    if (
        run.status != AgentRun.Status.SUCCEEDED
        or run.kind != AgentRun.Kind.TASK
        or not run.branch_name
        or run.task_id is None
    ):
        raise ConflictError(f"Run {run.pk} is not a finished coding attempt waiting for review.")
    task = Task.objects.select_for_update().get(pk=run.task_id)
    run.task = task
    if task.status != Task.Status.REVIEW:
        raise ConflictError(
            f"{task.key} is {task.get_status_display().lower()}, not waiting for review."
        )
    iterations = planning_services.task_qa_iteration_add(task_id=task.pk)
    limit = run.project.max_qa_iterations
    if iterations >= limit:
        run.result = {**run.result, "qa_blocked": True}
        run.save(update_fields=["result", "updated_at"])
        planning_services.task_update(task=task, data={"status": Task.Status.BLOCKED})
        return run
    if agent.type == Agent.Type.EXTERNAL:
        # It works elsewhere: the task waits for it, and its next claim carries the review.
        run.payload = {**run.payload, "feedback": [{"after_step": 0, "content": feedback}]}
        run.save(update_fields=["payload", "updated_at"])
        planning_services.task_update(
            task=task, data={"status": Task.Status.PENDING, "assigned_agent": agent}
        )
        return run
    number = _current_step(run)
    notes = [*run.payload.get("feedback", []), {"after_step": number - 1, "content": feedback}]
    run.payload = {**run.payload, "feedback": notes}
    run.stage = AgentRun.Stage.CODING
    run.finished_at = None
    run.error = ""
    run.result = {k: v for k, v in run.result.items() if k != "summary"}
    files_free = planning_services.task_files_reserve(
        project_id=task.project_id, task_id=task.pk, files=task.files
    )
    # Waiting for its files, the task is pending and its agent's, so nothing else takes
    # it and its run's dispatch puts it in progress again (see reopened_files_wait).
    status = Task.Status.IN_PROGRESS if files_free else Task.Status.PENDING
    planning_services.task_update(task=task, data={"status": status, "assigned_agent": agent})
    if (
        files_free
        and agent.status == Agent.Status.IDLE
        and run.project.status == Project.Status.ACTIVE
    ):
        _carry_on(run, number)
    else:
        run.status = AgentRun.Status.QUEUED
        run.lease_expires_at = None
        run.result = {**run.result, WAITS_FOR_AGENT: number}
        run.save()
    return run


def _carry_on(run: AgentRun, number: int) -> None:
    now = timezone.now()
    run.status = AgentRun.Status.RUNNING
    run.heartbeat_at = now
    run.lease_expires_at = _lease(now)
    run.result = {k: v for k, v in run.result.items() if k != WAITS_FOR_AGENT}
    run.save()
    _agent_busy(run, now=now)
    _enqueue_work(run, number)


def reopened_files_wait(run: AgentRun) -> bool:
    """Whether a sent-back run waiting for its agent waits for its task's files too: its
    task is pending for it, since another task in progress named one of them."""
    task = run.task
    return (
        task is not None
        and task.status == Task.Status.PENDING
        and task.assigned_agent_id == run.agent_id
    )


# Why a sent-back run that lost its task while it waited was cancelled.
REOPENED_TASK_CHANGED = "its task was changed while it waited for its agent or its files"


def reopened_stale(run: AgentRun) -> bool:
    """Whether a sent-back run waiting for its agent lost its task meanwhile: a person
    gave the task to someone else, took it back or moved it on, so it is no longer in
    progress or pending for the run's agent. Such a run is cancelled, never resumed."""
    task = run.task
    return task is not None and not (
        task.assigned_agent_id == run.agent_id
        and task.status in (Task.Status.IN_PROGRESS, Task.Status.PENDING)
    )


# Why a sent-back run was cancelled whose project was archived while it waited.
REOPENED_PROJECT_ARCHIVED = "its project was archived while it waited for its agent or its files"


def reopened_stranded(run: AgentRun) -> str | None:
    """Why a sent-back run still waiting for its agent or its files is cancelled now that
    its project has finished (completed or archived), where no dispatch would resume
    it; None while it may still resume. Its project and task are read as locked.

    An active project's waiting runs are the dispatch's, and a paused (or planning) one
    may run again. In a finished project a run whose task was deleted or closed
    meanwhile is cancelled, and so is every waiting run of an archived project. Any
    other task of a completed project is open, so the project has work left, and the
    roll-up makes it active again at its next task change: cancelling the run would be
    such a change (it sends the task back to pending), and would hand the task out
    afresh without its review, over what a person set it to. That run keeps waiting, as
    in a paused project."""
    status = run.project.status
    if status not in Project.FINISHED_STATUSES:
        return None
    task = run.task
    if task is None or task.status in planning_services.CLOSED_STATUSES:
        return REOPENED_TASK_CHANGED
    if status == Project.Status.ARCHIVED:
        return REOPENED_TASK_CHANGED if reopened_stale(run) else REOPENED_PROJECT_ARCHIVED
    return None


def run_reopened_resume(*, run: AgentRun) -> AgentRun:
    """Start a sent-back run that waited for its agent, now idle (inside the dispatch's
    transaction, which holds the agent locked, and has reserved the files of a task
    that waited for them: see reopened_files_wait)."""
    if run.task is not None and reopened_files_wait(run):
        planning_services.task_update(task=run.task, data={"status": Task.Status.IN_PROGRESS})
    number = int(run.result.get(WAITS_FOR_AGENT) or _current_step(run))
    _carry_on(run, number)
    return run


def reopened_waiting(*, project: Project, agent_ids: list[int]) -> dict[int, AgentRun]:
    """Sent-back runs of the project waiting for these (idle) agents, by agent, locked."""
    waiting = (
        AgentRun.objects.select_for_update(of=("self",))
        .select_related("agent", "project", "task")
        .filter(
            project=project,
            agent_id__in=agent_ids,
            status=AgentRun.Status.QUEUED,
            kind=AgentRun.Kind.TASK,
            stage=AgentRun.Stage.CODING,
        )
        .order_by("created_at")
    )
    found: dict[int, AgentRun] = {}
    for run in waiting:
        if WAITS_FOR_AGENT in run.result:
            found.setdefault(run.agent_id, run)
    # Their tasks locked too, after the runs (the order every path takes them in) and
    # before any file lock, so a person's move of a task cannot slip in between this
    # read and the dispatch's write; the rows are read afresh under the lock. A task
    # locked elsewhere (being moved right now) is skipped, never waited for: its run
    # waits for the next dispatch.
    task_ids = sorted({run.task_id for run in found.values() if run.task_id is not None})
    if task_ids:
        tasks = Task.objects.select_for_update(skip_locked=True).filter(pk__in=task_ids)
        by_id = {task.pk: task for task in tasks.order_by("pk")}
        for agent_id, run in list(found.items()):
            if run.task_id is None:
                continue
            if run.task_id in by_id:
                run.task = by_id[run.task_id]
            else:
                del found[agent_id]
    return found
