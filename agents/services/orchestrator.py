"""The orchestrator: starts agent runs on ready tasks, and keeps projects moving.

It dispatches ready tasks (pending, dependencies done, not `checkpoint:*`) to idle
built-in agents, up to the project's `max_concurrent_runs`; when a run ends, the next
ready tasks are dispatched. `checkpoint:*` tasks wait for a person (see
`human_checkpoint_answer`).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, Exists, OuterRef, Value, When
from django.utils import timezone

from agents.models import Agent, AgentRun, AgentStep
from agents.services.agents import agent_run_create
from agents.services.logs import decision_record, run_metrics_record
from core.errors import ConflictError, DomainError
from planning import selectors as planning_selectors
from planning import services as planning_services
from planning.models import Project, Task

TURN_LIMIT = "turn limit reached"
ACTIVE_RUN_STATUSES = (AgentRun.Status.QUEUED, AgentRun.Status.RUNNING)
# In a run's result: the attempts its current step had when a person retried the run.
ATTEMPTS_AT_RETRY = "step_attempts_at_retry"
NOT_DISPATCHED = (Agent.Type.EXTERNAL, Agent.Type.PLANNER)


def _enqueue_step(run: AgentRun, number: int) -> None:
    from agents.tasks import run_step

    transaction.on_commit(
        lambda: run_step.apply_async(args=[run.pk, number], queue=settings.AGENT_QUEUE)
    )


@transaction.atomic
def run_start(*, run: AgentRun, goal: str | None = None, max_turns: int | None = None) -> AgentRun:
    """Begin a queued run at step 1. Raises ConflictError when it is not queued."""
    from agents.runtime import initial_messages, task_goal

    run = (
        AgentRun.objects.select_for_update(of=("self",))
        .select_related("project", "agent", "task")
        .get(pk=run.pk)
    )
    if run.status != AgentRun.Status.QUEUED or run.steps.exists():
        raise ConflictError(f"Run {run.pk} has already started.")
    now = timezone.now()
    run.payload = {
        **run.payload,
        "messages": initial_messages(run, goal or task_goal(run)),
        "max_turns": max_turns or settings.AGENT_MAX_TURNS,
    }
    run.status = AgentRun.Status.RUNNING
    run.started_at = now
    run.heartbeat_at = now
    run.lease_expires_at = now + timedelta(seconds=settings.AGENT_LEASE_SECONDS)
    run.save()
    Agent.objects.filter(pk=run.agent_id).update(
        status=Agent.Status.BUSY, current_task=run.task_id, last_activity_at=now
    )
    _enqueue_step(run, 1)
    return run


def _current_step(run: AgentRun) -> int:
    last_done = run.steps.filter(status=AgentStep.Status.DONE).order_by("-number").first()
    return (last_done.number + 1) if last_done else 1


@transaction.atomic
def run_cancel(*, run: AgentRun, reason: str = "cancelled") -> AgentRun:
    """Stop a run at its next step boundary; its task goes back to pending."""
    run = AgentRun.objects.select_for_update().get(pk=run.pk)
    if run.status not in ACTIVE_RUN_STATUSES:
        raise ConflictError(f"Run {run.pk} is already {run.status}.")
    run.status = AgentRun.Status.CANCELLED
    run.finished_at = timezone.now()
    run.error = reason
    run.lease_expires_at = None
    run.save(update_fields=["status", "finished_at", "error", "lease_expires_at", "updated_at"])
    run_metrics_record(run=run)
    _release(run, task_status=Task.Status.PENDING)
    return run


@transaction.atomic
def run_retry(*, run: AgentRun) -> AgentRun:
    """Run a failed run again from the step that failed."""
    # Locks in the usual order: the agent, so a dispatch cannot hand it other work
    # meanwhile; then the run; then (below) the task.
    agent = Agent.objects.select_for_update().get(pk=run.agent_id)
    run = AgentRun.objects.select_for_update().get(pk=run.pk)
    run.agent = agent
    if run.status != AgentRun.Status.FAILED:
        raise ConflictError(f"Only a failed run can be retried; run {run.pk} is {run.status}.")
    if run.kind != AgentRun.Kind.TASK or run.agent.type in NOT_DISPATCHED:
        raise DomainError("Only runs of built-in agents on tasks can be retried here.")
    if run.error == TURN_LIMIT:
        raise DomainError("The run used all its turns; retrying would stop again at once.")
    if run.agent.status != Agent.Status.IDLE:
        raise ConflictError(f"Agent {run.agent.name} is busy with other work.")
    if run.task_id is not None:
        _check_task_still_the_runs(run)
    number = _current_step(run)
    steps = AgentStep.objects.filter(run=run, number=number)
    attempts = steps.values_list("attempts", flat=True).first() or 0
    steps.update(status=AgentStep.Status.RUNNING, error="", finished_at=None)
    now = timezone.now()
    run.status = AgentRun.Status.RUNNING
    run.error = ""
    run.finished_at = None
    # The step gets its retries afresh.
    run.result = {**run.result, ATTEMPTS_AT_RETRY: {"step": number, "attempts": attempts}}
    run.heartbeat_at = now
    run.lease_expires_at = now + timedelta(seconds=settings.AGENT_LEASE_SECONDS)
    run.save()
    if run.task_id is not None:
        planning_services.task_update(
            task=run.task, data={"status": Task.Status.IN_PROGRESS, "assigned_agent": agent}
        )
    Agent.objects.filter(pk=run.agent_id).update(status=Agent.Status.BUSY, current_task=run.task_id)
    _enqueue_step(run, number)
    return run


def _check_task_still_the_runs(run: AgentRun) -> None:
    """Lock the run's task, and raise ConflictError if, since the run failed, someone has
    given it to another agent, closed it, or started it again."""
    task = Task.objects.select_for_update().get(pk=run.task_id)
    if task.assigned_agent_id not in (None, run.agent_id):
        raise ConflictError(f"Task {task.key} has been given to another agent since.")
    if task.status in (*planning_services.CLOSED_STATUSES, *planning_selectors.STARTED_STATUSES):
        raise ConflictError(
            f"Task {task.key} is {task.get_status_display().lower()} now; "
            "start a new run if it needs more work."
        )
    run.task = task


@transaction.atomic
def run_fail(*, run_id: int, error: str) -> AgentRun | None:
    """Give up on a run whose step kept failing (the model unreachable after retries)."""
    from agents.runtime import run_finish

    run = (
        AgentRun.objects.select_for_update(of=("self",))
        .select_related("project", "task", "agent")
        .get(pk=run_id)
    )
    if run.status != AgentRun.Status.RUNNING:
        return None
    AgentStep.objects.filter(run=run, status=AgentStep.Status.RUNNING).update(
        status=AgentStep.Status.FAILED, error=error
    )
    return run_finish(run=run, succeeded=False, summary="", error=error)


def _release(run: AgentRun, *, task_status: str) -> None:
    Agent.objects.filter(pk=run.agent_id, current_task=run.task_id).update(
        status=Agent.Status.IDLE, current_task=None, last_activity_at=timezone.now()
    )
    if run.task_id:
        planning_services.task_release(
            task_id=run.task_id, status=task_status, agent_id=run.agent_id
        )


def run_ended(*, run: AgentRun) -> None:
    """Called as a run finishes (inside its transaction): settle its task and agent, then
    dispatch more work once the transaction commits."""
    _release(
        run,
        task_status=Task.Status.DONE
        if run.status == AgentRun.Status.SUCCEEDED
        else Task.Status.FAILED,
    )
    dispatch_after_commit(run.project_id)


def dispatch_after_commit(project_id: int) -> None:
    """Dispatch the project once the caller's transaction commits: work may have become
    ready, or an agent free (dispatch does nothing unless the project is running)."""
    transaction.on_commit(lambda: dispatch_later(project_id))


def dispatch_waiting_work() -> int:
    """Dispatch every running project that has an idle built-in agent, so that work that
    became ready without a run ending (a person moved a task on, a checkpoint was
    restored) is picked up at the next sweep. Returns how many runs started."""
    idle = Agent.objects.filter(project=OuterRef("pk"), status=Agent.Status.IDLE).exclude(
        type__in=NOT_DISPATCHED
    )
    waiting = Project.objects.filter(Exists(idle), status=Project.Status.ACTIVE)
    return sum(len(dispatch(project=project)) for project in waiting)


def dispatch_later(project_id: int) -> None:
    from agents.tasks import dispatch_project

    dispatch_project.apply_async(args=[project_id], queue=settings.AGENT_QUEUE)


@transaction.atomic
def dispatch(*, project: Project) -> list[AgentRun]:
    """Start runs on ready tasks with idle built-in agents, up to the concurrency limit.

    Tasks go in the order `next` and claims follow. A ready task assigned to an agent is
    that agent's: it waits for it (and goes to it first when it is idle). Coders are
    picked before other built-in agents.
    """
    project = Project.objects.select_for_update().get(pk=project.pk)
    if project.status != Project.Status.ACTIVE:
        return []
    active = AgentRun.objects.filter(project=project, status__in=ACTIVE_RUN_STATUSES).exclude(
        agent__type=Agent.Type.EXTERNAL
    )
    slots = project.max_concurrent_runs - active.count()
    if slots <= 0:
        return []
    # Agents, then tasks: the order the rest of the code locks them in. An agent being
    # retried or terminated right now is skipped, so it never gets two runs.
    idle = list(
        project.agents.filter(status=Agent.Status.IDLE)
        .exclude(type__in=NOT_DISPATCHED)
        .order_by(Case(When(type=Agent.Type.CODER, then=Value(0)), default=Value(1)), "name")
        .select_for_update(skip_locked=True)
    )
    # Locked and skipped when locked, so an external agent claiming at the same moment
    # never gets the same task (PostgreSQL; SQLite serialises writers anyway).
    ready = (
        planning_selectors.task_ready_in_next_order(project=project)
        .exclude(type__startswith="checkpoint:")
        .select_for_update(skip_locked=True, of=("self",))
    )
    pairs: list[tuple[Agent, Task]] = []
    for agent in idle:
        if len(pairs) == slots:
            break
        # Its best reserved task, if any: one query an idle agent (there are few), since
        # FOR UPDATE rules out ranking them all in one query with a window function.
        own = ready.filter(assigned_agent=agent).first()
        if own is not None:
            pairs.append((agent, own))
    free_agents = [a for a in idle if all(a is not paired for paired, _ in pairs)]
    unassigned = ready.filter(assigned_agent__isnull=True)[
        : min(len(free_agents), slots - len(pairs))
    ]
    pairs += zip(free_agents, unassigned, strict=False)
    started = []
    for agent, task in pairs:
        attempt = task.runs.count() + 1
        run = agent_run_create(project=project, agent=agent, task=task, attempt=attempt)
        planning_services.task_update(
            task=task, data={"status": Task.Status.IN_PROGRESS, "assigned_agent": agent}
        )
        started.append(run_start(run=run))
    return started


def _checkpoint(project: Project, reason: str) -> None:
    from agents.services.checkpoints import checkpoint_snapshot

    checkpoint_snapshot(
        project=project, name=f"{reason} {timezone.now():%Y-%m-%d %H:%M}", reason=reason
    )


@transaction.atomic
def project_run_start(*, project: Project, actor: AbstractBaseUser | None = None) -> list[AgentRun]:
    """Start (or resume) working through the plan: checkpoint, then dispatch.

    Raises DomainError when the project has no built-in agent to run tasks.
    """
    project = Project.objects.select_for_update().get(pk=project.pk)
    if (
        not project.agents.exclude(type__in=NOT_DISPATCHED)
        .exclude(status=Agent.Status.TERMINATED)
        .exists()
    ):
        raise DomainError("Add a coder (or other built-in) agent before running the project.")
    was_paused = project.status == Project.Status.PAUSED
    planning_services.project_update(project=project, data={"status": Project.Status.ACTIVE})
    _checkpoint(project, "run resumed" if was_paused else "run started")
    now = timezone.now()
    paused_runs = AgentRun.objects.filter(
        project=project, status=AgentRun.Status.QUEUED, steps__isnull=False
    ).distinct()
    for run in paused_runs:
        run.status = AgentRun.Status.RUNNING
        run.heartbeat_at = now
        run.lease_expires_at = now + timedelta(seconds=settings.AGENT_LEASE_SECONDS)
        run.save(update_fields=["status", "heartbeat_at", "lease_expires_at", "updated_at"])
        _enqueue_step(run, run.result.get("next_step") or _current_step(run))
    return dispatch(project=project)


@transaction.atomic
def project_run_pause(*, project: Project) -> Project:
    """No new runs; running ones stop at their next step boundary. Checkpoints first."""
    project = planning_services.project_update(
        project=project, data={"status": Project.Status.PAUSED}
    )
    _checkpoint(project, "run paused")
    return project


@transaction.atomic
def project_run_cancel(*, project: Project) -> int:
    """Pause the project and cancel every active run; returns how many were cancelled."""
    project_run_pause(project=project)
    runs = list(
        AgentRun.objects.filter(project=project, status__in=ACTIVE_RUN_STATUSES).exclude(
            agent__type=Agent.Type.EXTERNAL
        )
    )
    for run in runs:
        run_cancel(run=run, reason="project run cancelled")
    return len(runs)


@transaction.atomic
def human_checkpoint_answer(
    *,
    task: Task,
    approved: bool,
    actor: AbstractBaseUser | None = None,
    choice: str = "",
    note: str = "",
) -> Task:
    """Record a person's answer to a `checkpoint:*` task as a decision, and move on.

    Approval (or a choice, for `checkpoint:decision`) marks the task done; rejection marks
    it blocked. Raises DomainError for a task that is not a checkpoint, or an unknown
    choice.
    """
    task = Task.objects.select_for_update().get(pk=task.pk)
    if not task.needs_human:
        raise DomainError(f"{task.key} is not a checkpoint task.")
    if task.status in (Task.Status.DONE, Task.Status.CANCELLED):
        raise ConflictError(f"{task.key} is already {task.status}.")
    options = [o.get("id") for o in task.extra.get("options", []) if isinstance(o, dict)]
    if task.type == Task.Type.DECISION and approved and options and choice not in options:
        raise DomainError(f"Choose one of: {', '.join(options)}.", field="choice")
    who = getattr(actor, "username", None) or "someone"
    verdict = f"chose {choice}" if choice else ("approved" if approved else "rejected")
    decision_record(
        project=task.project,
        task=task,
        decision=f"{who} {verdict} {task.key}: {task.name}",
        reasoning={
            "approved": approved,
            "choice": choice,
            "note": note,
            "by": who,
            "type": task.type,
        },
    )
    planning_services.task_set_status(
        task=task, status=Task.Status.DONE if approved else Task.Status.BLOCKED
    )
    project_id = task.project_id
    transaction.on_commit(lambda: dispatch_later(project_id))
    return task


def stale_runs_recover(*, now=None) -> int:  # type: ignore[no-untyped-def]
    """Re-deliver the current step of built-in runs whose lease ran out without a
    heartbeat (their worker died); returns how many were re-delivered."""
    now = now or timezone.now()
    stale = AgentRun.objects.filter(
        status=AgentRun.Status.RUNNING, lease_expires_at__lt=now
    ).exclude(agent__type=Agent.Type.EXTERNAL)
    for planning_run in stale.filter(kind=AgentRun.Kind.PLANNING):
        # Plan generation is one task, not a step loop: deliver it again.
        from planning.tasks import generate_plan

        run_id = planning_run.pk
        transaction.on_commit(
            lambda run_id=run_id: generate_plan.apply_async(
                args=[run_id], queue=settings.AGENT_QUEUE
            )
        )
    stale = stale.filter(kind=AgentRun.Kind.TASK).exclude(agent__type__in=NOT_DISPATCHED)
    count = 0
    for run in stale:
        with transaction.atomic():
            run = AgentRun.objects.select_for_update().get(pk=run.pk)
            if (
                run.status != AgentRun.Status.RUNNING
                or not run.lease_expires_at
                or run.lease_expires_at >= now
            ):
                continue
            run.lease_expires_at = now + timedelta(seconds=settings.AGENT_LEASE_SECONDS)
            run.save(update_fields=["lease_expires_at", "updated_at"])
            _enqueue_step(run, _current_step(run))
            count += 1
    return count


def human_checkpoint_list(*, project: Project):  # type: ignore[no-untyped-def]
    """`checkpoint:*` tasks still waiting for a person, ready ones first."""
    ready = set(
        planning_selectors.task_ready_list(project=project)
        .filter(type__startswith="checkpoint:")
        .values_list("pk", flat=True)
    )
    tasks = list(
        project.tasks.filter(type__startswith="checkpoint:")
        .exclude(status__in=[Task.Status.DONE, Task.Status.CANCELLED])
        .select_related("feature", "sub_feature", "assigned_agent")
        .prefetch_related("depends_on")
        .order_by("priority_rank", "wave", "key")
    )
    for task in tasks:
        task.is_ready = task.pk in ready
    return sorted(tasks, key=lambda t: not t.is_ready)
