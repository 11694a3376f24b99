"""The orchestrator: starts agent runs on ready tasks, and keeps projects moving.

It dispatches ready tasks (pending, dependencies done, not `checkpoint:*`) to idle
built-in agents, up to the project's `max_concurrent_runs`; when a run ends, the next
ready tasks are dispatched. `checkpoint:*` tasks wait for a person (see
`human_checkpoint_answer`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Case, Exists, OuterRef, Value, When
from django.utils import timezone

from agents.models import Agent, AgentRun
from agents.services import reviews, runs
from agents.services.checkpoints import checkpoint_snapshot
from agents.services.logs import decision_record
from agents.services.runs import (
    agent_run_create,
    dispatch_after_commit,
    run_cancel,
    run_resume,
    run_start,
)
from agents.workspaces.executors import executor_check
from core.errors import ConflictError, DomainError
from planning import selectors as planning_selectors
from planning import services as planning_services
from planning.models import Executor, Project, Task


def dispatch_waiting_work() -> int:
    """Dispatch every running project that has an idle built-in agent, so that work that
    became ready without a run ending (a person moved a task on, a checkpoint was
    restored) is picked up at the next sweep. Returns how many runs started."""
    idle = Agent.objects.filter(project=OuterRef("pk"), status=Agent.Status.IDLE).exclude(
        type__in=Agent.NOT_DISPATCHED_TYPES
    )
    waiting = Project.objects.filter(Exists(idle), status=Project.Status.ACTIVE)
    return sum(len(dispatch(project=project)) for project in waiting)


@transaction.atomic
def dispatch(*, project: Project) -> list[AgentRun]:
    """Start runs on ready tasks with idle built-in agents, up to the concurrency limit.

    Tasks go in the order `next` and claims follow. A ready task assigned to an agent is
    that agent's: it waits for it (and goes to it first when it is idle). Coders are
    picked before other built-in agents.
    """
    # FOR NO KEY UPDATE, as planning's services lock a project: it serialises dispatches,
    # yet lets a claim in flight commit (its new run's foreign-key check takes FOR KEY
    # SHARE on the project), where FOR UPDATE would deadlock with a claim whose file
    # locks this dispatch then waits for.
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    if project.status != Project.Status.ACTIVE:
        return []
    # A run sent back by a review waits for its agent: it takes a slot once it resumes.
    active = (
        AgentRun.objects.filter(project=project, status__in=AgentRun.ACTIVE_STATUSES)
        .exclude(agent__type=Agent.Type.EXTERNAL)
        .exclude(result__has_key=runs.WAITS_FOR_AGENT)
    )
    slots = project.max_concurrent_runs - active.count()
    if slots <= 0:
        return []
    # Agents, then tasks: the order the rest of the code locks them in. An agent being
    # retried or terminated right now is skipped, so it never gets two runs.
    idle = list(
        project.agents.filter(status=Agent.Status.IDLE)
        .exclude(type__in=Agent.NOT_DISPATCHED_TYPES)
        .order_by(Case(When(type=Agent.Type.CODER, then=Value(0)), default=Value(1)), "name")
        .select_for_update(skip_locked=True, no_key=True)
    )
    # Locked and skipped when locked, so an external agent claiming at the same moment
    # never gets the same task (PostgreSQL; SQLite serialises writers anyway).
    ready = (
        planning_selectors.task_ready_in_next_order(project=project)
        .exclude(type__startswith="checkpoint:")
        .select_for_update(skip_locked=True, of=("self",))
    )
    idle = [agent for agent in idle if agent_can_work(agent, project) is None]
    started: list[AgentRun] = []
    # Two tasks that change the same files are never worked on at once (GSD's rule for
    # waves): each task taken claims its files.
    taken_files = _files_in_progress(project)
    # Work sent back by a review first: its agent carries on where it stopped. One whose
    # task waits for files another task holds leaves its agent free for other work.
    waiting = runs.reopened_waiting(project=project, agent_ids=[a.pk for a in idle])
    resuming: list[AgentRun] = []
    for agent in list(idle):
        if len(resuming) < slots and (run := waiting.get(agent.pk)) is not None:
            if runs.reopened_stale(run):
                runs.run_cancel(run=run, reason=runs.REOPENED_TASK_CHANGED)
                continue
            task = run.task
            if (
                task is not None
                and runs.reopened_files_wait(run)
                and not _take_files(task, taken_files)
            ):
                continue
            resuming.append(run)
            idle.remove(agent)
    slots -= len(resuming)
    # Reviewers review; mergers' work is done by the merge itself.
    # Reviewers review in the built-in step loop (a coding CLI writes code, not verdicts).
    reviewers = [
        a for a in idle if a.type == Agent.Type.REVIEWER and a.executor == Executor.BUILTIN
    ]
    review_runs = reviews.review_runs_start(project=project, agents=reviewers, slots=slots)
    started += review_runs
    slots -= len(review_runs)
    idle = [a for a in idle if a.type not in (Agent.Type.REVIEWER, Agent.Type.MERGER)]
    pairs: list[tuple[Agent, Task]] = []
    for agent in idle:
        if len(pairs) >= slots:
            break
        # Its best reserved task, if any: one query an idle agent (there are few), since
        # FOR UPDATE rules out ranking them all in one query with a window function.
        own = ready.filter(assigned_agent=agent).first()
        if own is not None and _take_files(own, taken_files):
            pairs.append((agent, own))
    free_agents = [a for a in idle if all(a is not paired for paired, _ in pairs)]
    wanted = min(len(free_agents), slots - len(pairs))
    if wanted > 0:
        # A few more than needed, for those whose files are taken.
        candidates = ready.filter(assigned_agent__isnull=True)[: wanted * 4 + 8]
        unassigned = [task for task in candidates if _take_files(task, taken_files)][:wanted]
        pairs += zip(free_agents, unassigned, strict=False)
    # A claim in flight may have taken their files since they were read above. All the
    # tasks' files are locked at once, so this waits for claims in one order with them.
    files_by_task = {task.pk: task.files for _, task in pairs}
    files_by_task |= {
        run.task.pk: run.task.files
        for run in resuming
        if run.task is not None and runs.reopened_files_wait(run)
    }
    free = planning_services.tasks_files_reserve(project_id=project.pk, files_by_task=files_by_task)
    for run in resuming:
        if run.task_id in free or not runs.reopened_files_wait(run):
            started.append(runs.run_reopened_resume(run=run))
    for agent, task in pairs:
        if task.pk not in free:
            continue
        attempt = task.runs.count() + 1
        run = agent_run_create(project=project, agent=agent, task=task, attempt=attempt)
        planning_services.task_update(
            task=task, data={"status": Task.Status.IN_PROGRESS, "assigned_agent": agent}
        )
        started.append(run_start(run=run))
    return started


def _files_in_progress(project: Project) -> set[str]:
    files: set[str] = set()
    in_progress = project.tasks.filter(status=Task.Status.IN_PROGRESS).values_list(
        "files", flat=True
    )
    for task_files in in_progress:
        files |= planning_services.task_files(task_files)
    return files


def _take_files(task: Task, taken: set[str]) -> bool:
    """Whether `task` touches none of the `taken` files; if so its files are taken too."""
    files = planning_services.task_files(task.files)
    if files & taken:
        return False
    taken.update(files)
    return True


def agent_can_work(agent: Agent, project: Project) -> str | None:
    """Why a dispatched agent cannot take work now, or None when it can: the built-in
    loop needs a model that writes code, and a coding CLI needs a repository and its
    program installed."""
    if agent.executor == Executor.BUILTIN:
        if settings.LLM_PROVIDER == "offline":
            return OFFLINE_CANNOT_CODE
        return None
    if not project.root_path:
        return (
            f"{agent.get_executor_display()} works in a git worktree: set the project's "
            "root path (or repository URL) first."
        )
    return executor_check(agent.executor, agent.executor_command)


OFFLINE_CANNOT_CODE = (
    "The offline LLM provider cannot write code. Set LLM_PROVIDER=openai with "
    "LLM_BASE_URL and LLM_API_KEY (any OpenAI-compatible server), or give the agent a "
    "coding CLI as its executor (codex, claude-code, ...) or a command of your own."
)


def _checkpoint(project: Project, reason: str) -> None:
    checkpoint_snapshot(
        project=project, name=f"{reason} {timezone.now():%Y-%m-%d %H:%M}", reason=reason
    )


@transaction.atomic
def project_run_start(*, project: Project, actor: User | None = None) -> list[AgentRun]:
    """Start (or resume) working through the plan: checkpoint, then dispatch.

    Raises DomainError when the project has no built-in agent to run tasks.
    """
    # Not FOR UPDATE: the dispatch at the end waits for claims in flight (see dispatch).
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    workers = list(
        project.agents.exclude(type__in=Agent.NOT_DISPATCHED_TYPES).exclude(
            status=Agent.Status.TERMINATED
        )
    )
    if not workers:
        raise DomainError("Add a coder (or other built-in) agent before running the project.")
    why_not: dict[str, list[str]] = {}
    for agent in workers:
        if (reason := agent_can_work(agent, project)) is None:
            break
        why_not.setdefault(reason, []).append(agent.name)
    else:
        raise DomainError(
            " ".join(f"{', '.join(names)}: {reason}" for reason, names in why_not.items())
        )
    was_paused = project.status == Project.Status.PAUSED
    planning_services.project_update(project=project, data={"status": Project.Status.ACTIVE})
    _checkpoint(project, "run resumed" if was_paused else "run started")
    paused_runs = AgentRun.objects.filter(
        project=project, status=AgentRun.Status.QUEUED, steps__isnull=False
    ).distinct()
    for run in paused_runs:
        if runs.WAITS_FOR_AGENT not in run.result:  # those wait for their agent's dispatch
            run_resume(run=run)
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
        AgentRun.objects.filter(project=project, status__in=AgentRun.ACTIVE_STATUSES).exclude(
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
    actor: User | None = None,
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
    # As the inbox offers them: by id, as text (`extra` is free JSON, so 1 means "1").
    options = [
        str(o["id"])
        for o in task.shaped_extra().get("options", [])
        if isinstance(o, dict) and o.get("id") is not None
    ]
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
    dispatch_after_commit(task.project_id)
    return task


@dataclass(frozen=True)
class WaitingCheckpoint:
    """A `checkpoint:*` task waiting for a person; `ready` once every task it depends on
    is done."""

    task: Task
    ready: bool


def human_checkpoint_list(*, project: Project) -> list[WaitingCheckpoint]:
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
    waiting = [WaitingCheckpoint(task=task, ready=task.pk in ready) for task in tasks]
    return sorted(waiting, key=lambda checkpoint: not checkpoint.ready)
