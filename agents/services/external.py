"""External agents: keys, claiming tasks under a lease, and finishing runs (their
reports are in agents/services/external_reports.py).

Every function that takes more than one row lock takes them in one order: the agent, then
the run, then the task. The agent's lock is FOR NO KEY UPDATE (runs.agent_lock), which the
foreign-key checks of the rows a report inserts for the agent (FOR KEY SHARE, at commit)
do not wait for: a report locks only its run. A claim locks its agent first, so one
agent's concurrent requests queue behind each other, and picks its task with SKIP LOCKED,
so different agents never wait for each other. On SQLite, where there is no row locking,
the settings' IMMEDIATE transactions take the write lock before the first read, which
serialises claims.

A run is fenced by (run, attempt, lease): once its lease has expired or it has ended, a
late completion from that attempt changes nothing.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agents import statements
from agents.keys import DISPLAYED_KEY_CHARS, agent_key_hash, agent_key_new
from agents.models import Agent, AgentRun, Metric
from agents.services import runs
from agents.services.agents import agent_create
from agents.services.logs import (
    metrics_record,
)
from core import git
from core.db import instance_from_row, prepared_cursor
from core.errors import ConflictError, DomainError, PermissionDeniedError
from planning.models import Project
from planning.services import ClaimFilesTaken, task_claim_next

DEFAULT_LEASE_SECONDS = 300
MIN_LEASE_SECONDS = 10
MAX_LEASE_SECONDS = 24 * 3600
# How often a claim tries again when concurrent claims keep taking files its task names.
CLAIM_FILE_RETRIES = 5


class LeaseExpiredError(ConflictError):
    """The lease on the agent's run had expired; the run has been failed and its task
    put back in the queue."""


# Keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedKey:
    agent: Agent
    key: str = field(repr=False)  # never in a log line or a traceback's locals


@transaction.atomic
def agent_key_issue(*, agent: Agent) -> IssuedKey:
    """Give an external agent a new API key, replacing its old one.

    The key is returned here once; only its SHA-256 and its first characters are kept.
    Raises DomainError for an agent that is not external, or is terminated, and
    ConflictError when it has been deleted meanwhile.
    """
    agent = _agent_for_key_change(agent)
    if agent.type != Agent.Type.EXTERNAL:
        raise DomainError(
            f"Agent {agent.name} is a built-in {agent.type}; only external agents use keys.",
            field="type",
        )
    if agent.status == Agent.Status.TERMINATED:
        raise DomainError(f"Agent {agent.name} is terminated.", field="status")
    key = agent_key_new()
    agent.api_key_hash = agent_key_hash(key)
    agent.api_key_prefix = key[:DISPLAYED_KEY_CHARS]
    agent.full_clean()
    agent.save(update_fields=["api_key_hash", "api_key_prefix", "updated_at"])
    return IssuedKey(agent=agent, key=key)


def _agent_for_key_change(agent: Agent) -> Agent:
    # Locked, and read again: a concurrent delete would otherwise leave the save
    # nothing to update.
    locked = Agent.objects.select_for_update(no_key=True).filter(pk=agent.pk).first()
    if locked is None:
        raise ConflictError(f"Agent {agent.name} has been deleted.")
    return locked


@transaction.atomic
def external_agent_create(*, project: Project, name: str, model: str = "") -> IssuedKey:
    """Register an external agent with its first key: both happen or neither does."""
    agent = agent_create(project=project, name=name, type=Agent.Type.EXTERNAL, model=model)
    return agent_key_issue(agent=agent)


@transaction.atomic
def agent_key_revoke(*, agent: Agent) -> Agent:
    """Forget the agent's key, so requests made with it fail from now on. Raises
    ConflictError when the agent has been deleted meanwhile."""
    agent = _agent_for_key_change(agent)
    agent.api_key_hash = ""
    agent.api_key_prefix = ""
    agent.full_clean()
    agent.save(update_fields=["api_key_hash", "api_key_prefix", "updated_at"])
    return agent


# Claims and leases --------------------------------------------------------------------


# A paused, completed or archived project hands out no work.
NOT_CLAIMING = (Project.Status.PAUSED, Project.Status.COMPLETED, Project.Status.ARCHIVED)


def _check_lease_seconds(seconds: int) -> None:
    if not MIN_LEASE_SECONDS <= seconds <= MAX_LEASE_SECONDS:
        raise DomainError(
            f"A lease lasts {MIN_LEASE_SECONDS} to {MAX_LEASE_SECONDS} seconds.",
            field="lease_seconds",
        )


def _lock_agent(agent: Agent) -> Agent:
    locked = (
        Agent.objects.select_for_update(of=("self",), no_key=True)
        .select_related("project")
        .get(pk=agent.pk)
    )
    if locked.status == Agent.Status.TERMINATED:
        raise PermissionDeniedError(f"Agent {locked.name} is terminated.")
    return locked


def _held_run(agent: Agent) -> AgentRun | None:
    with prepared_cursor() as cursor:
        cursor.execute(statements.held_run(), (agent.pk,))
        row = cursor.fetchone()
    if row is None:
        return None
    run = instance_from_row(AgentRun, statements.RUN_FIELDS, row)
    run.agent = agent
    return run


def _lease_live(run: AgentRun, now: datetime) -> bool:
    return run.lease_expires_at is not None and run.lease_expires_at > now


def _lock_for_claim(agent: Agent) -> str:
    """Lock the agent as _lock_agent does, with one cheap statement: the claim's hot
    path. Returns its project's status."""
    with prepared_cursor() as cursor:
        cursor.execute(statements.lock_for_claim(connection.vendor), (agent.pk,))
        row = cursor.fetchone()
    if row is None:
        raise Agent.DoesNotExist(f"Agent {agent.pk} no longer exists.")
    status, project_status = row
    if status == Agent.Status.TERMINATED:
        raise PermissionDeniedError(f"Agent {agent.name} is terminated.")
    return str(project_status)


def task_claim(*, agent: Agent, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> AgentRun | None:
    """Claim the next ready task for `agent`, under a lease of `lease_seconds`.

    The task goes in progress, assigned to the agent; a running task run is created with
    the next attempt number; the agent turns busy. Returns the run (with its task), or
    None when no task is ready. `checkpoint:*` tasks are never claimed, nor a task that
    names a file a task in progress names (even one a concurrent claim is starting).

    Raises ConflictError while the agent holds a run whose lease is live (one whose lease
    has expired is failed first, as stale_leases_expire would), DomainError for a lease
    out of range, PermissionDeniedError for a terminated agent.
    """
    _check_lease_seconds(lease_seconds)
    for _ in range(CLAIM_FILE_RETRIES):
        try:
            return _claim(agent, lease_seconds)
        except ClaimFilesTaken:
            # A concurrent transaction started a task sharing a file with this one and
            # has committed: claiming again passes the task by.
            continue
    return None


def _claim(agent: Agent, lease_seconds: int) -> AgentRun | None:
    """One claim; raises ClaimFilesTaken, having changed nothing, when a concurrent
    claim took one of the task's files first."""
    if connection.vendor == "postgresql":
        try:
            return _claim_unless_held(agent, lease_seconds)
        except _AgentHoldsRun:
            pass  # nothing changed: claim again, dealing with the held run first
    with transaction.atomic():
        project_status = _lock_for_claim(agent)
        now = timezone.now()
        # A statement of its own, after the lock: the locking one reads from a snapshot
        # taken before it waited, and would miss a run that a concurrent claim by the
        # same agent committed meanwhile.
        held = _held_run(agent)
        if held is not None:
            if _lease_live(held, now):
                raise ConflictError(
                    f"Agent {agent.name} already holds run {held.pk}; complete or fail it first."
                )
            runs.run_expire(run=held, now=now)
        claimed = (
            None
            if project_status in NOT_CLAIMING
            else task_claim_next(project_id=agent.project_id, agent_id=agent.pk, now=now)
        )
        if claimed is None:
            Agent.objects.filter(pk=agent.pk).update(last_activity_at=now)
            return None
        return runs.run_open_for_claim(
            agent=agent,
            task=claimed.task,
            attempt=claimed.earlier_runs + 1,
            lease_seconds=lease_seconds,
            now=now,
        )


class _AgentHoldsRun(Exception):
    """The claiming agent holds a running run: the claim's transaction rolls back."""


def _claim_unless_held(agent: Agent, lease_seconds: int) -> AgentRun | None:
    """PostgreSQL: task_claim for an agent that holds no running run, the usual case,
    with one statement fewer. The task is claimed first, and the statement that opens
    the run checks that the agent holds none (runs.run_open_for_claim_unless_held); it
    runs after the agent's lock, so it sees a run a concurrent claim by the same agent
    committed meanwhile. Raises _AgentHoldsRun, rolling the claim back, when it does."""
    with transaction.atomic():
        project_status = _lock_for_claim(agent)
        now = timezone.now()
        claimed = (
            None
            if project_status in NOT_CLAIMING
            else task_claim_next(project_id=agent.project_id, agent_id=agent.pk, now=now)
        )
        if claimed is None:
            if _held_run(agent) is not None:
                raise _AgentHoldsRun
            Agent.objects.filter(pk=agent.pk).update(last_activity_at=now)
            return None
        run = runs.run_open_for_claim_unless_held(
            agent=agent,
            task=claimed.task,
            attempt=claimed.earlier_runs + 1,
            lease_seconds=lease_seconds,
            now=now,
        )
        if run is None:
            raise _AgentHoldsRun
        return run


def agent_heartbeat(*, agent: Agent, lease_seconds: int | None = None) -> AgentRun | None:
    """Record that the agent is alive, and extend the lease on the run it holds.

    The lease is extended by `lease_seconds`, or by the length it was claimed with.
    Returns the held run, or None. Raises LeaseExpiredError when the lease had already
    run out: the run is then failed and its task put back, as stale_leases_expire would.
    Raises DomainError for a lease out of range.
    """
    if lease_seconds is not None:
        _check_lease_seconds(lease_seconds)
    with transaction.atomic():
        agent = _lock_agent(agent)
        now = timezone.now()
        fields: dict[str, Any] = {"last_activity_at": now, "updated_at": now}
        if agent.status == Agent.Status.OFFLINE:
            fields["status"] = Agent.Status.IDLE
        Agent.objects.filter(pk=agent.pk).update(**fields)
        run = _held_run(agent)
        if run is None:
            return None
        if _lease_live(run, now):
            seconds = lease_seconds or int(run.payload.get("lease_seconds", DEFAULT_LEASE_SECONDS))
            return runs.run_lease_extend(run=run, seconds=seconds, now=now)
        expired_at = run.lease_expires_at
        runs.run_expire(run=run, now=now)
    raise LeaseExpiredError(
        f"The lease on run {run.pk} expired at {expired_at:%Y-%m-%dT%H:%M:%SZ}; "
        "the run has failed and its task is back in the queue. Claim again."
        if expired_at
        else f"Run {run.pk} has no lease; it has failed and its task is back in the queue."
    )


# Finishing ----------------------------------------------------------------------------


def _fenced_run(run: AgentRun, *, agent: Agent, attempt: int, now: datetime) -> AgentRun:
    """The run, locked, if this agent's attempt may still finish it; else ConflictError."""
    run = AgentRun.objects.select_for_update(of=("self",)).select_related("task").get(pk=run.pk)
    if run.agent_id != agent.pk:
        raise ConflictError(f"Run {run.pk} is held by another agent.")
    run.agent = agent
    if run.status != AgentRun.Status.RUNNING:
        reason = f" ({run.error})" if run.error else ""
        raise ConflictError(f"Run {run.pk} has {run.status}{reason}; it can no longer change.")
    if attempt != run.attempt:
        raise ConflictError(f"Run {run.pk} is attempt {run.attempt}, not {attempt}.")
    if not _lease_live(run, now):
        raise ConflictError(
            f"The lease on run {run.pk} has expired; its task goes back to the queue."
        )
    return run


def agent_run_complete(
    *,
    run: AgentRun,
    agent: Agent,
    attempt: int,
    result: Mapping[str, Any] | None = None,
    branch: str = "",
) -> AgentRun:
    """Finish the agent's run as succeeded: its task is done, the agent idle. With
    `branch`, a branch of the project's repository holding the work, the task waits for
    review instead, and is merged from that branch once approved.

    Records the run's task_duration Metric (seconds). Raises ConflictError, changing
    nothing, unless `agent` holds the run, it is running, `attempt` is its attempt and
    its lease has not expired; DomainError for a branch the repository does not have.
    """
    if branch:
        _check_branch(run.project, branch)
    with transaction.atomic():
        agent = _lock_agent(agent)
        now = timezone.now()
        run = _fenced_run(run, agent=agent, attempt=attempt, now=now)
        if branch:
            run.branch_name = branch
            run.save(update_fields=["branch_name", "updated_at"])
        runs.run_finish(run=run, succeeded=True, result=dict(result or {}))
        finished, started = run.finished_at, run.started_at
        duration = (finished - started).total_seconds() if finished and started else 0.0
        metrics_record(
            run=run,
            entries=[
                {
                    "type": Metric.Type.TASK_DURATION,
                    "value": duration,
                    "metadata": {"unit": "s", "attempt": run.attempt},
                    "recorded_at": now,
                }
            ],
        )
        if run.task is not None:
            run.task.refresh_from_db()
        return run


def _check_branch(project: Project, branch: str) -> None:
    if not project.root_path:
        raise DomainError(
            "The project has no repository: complete without a branch.", field="branch"
        )
    if branch == project.base_branch:
        raise DomainError(
            f"Name the branch holding your work, not the base branch {branch!r}.", field="branch"
        )
    if branch.startswith("-") or not git.branch_exists(project.root_path, branch):
        raise DomainError(
            f"Branch {branch!r} does not exist in the project's repository.", field="branch"
        )


def agent_run_fail(*, run: AgentRun, agent: Agent, attempt: int, error: str) -> AgentRun:
    """Finish the agent's run as failed: its task goes back to pending, the agent idle.

    Raises ConflictError, changing nothing, unless `agent` holds the run, it is running,
    `attempt` is its attempt and its lease has not expired.
    """
    with transaction.atomic():
        agent = _lock_agent(agent)
        now = timezone.now()
        run = _fenced_run(run, agent=agent, attempt=attempt, now=now)
        runs.run_finish(run=run, succeeded=False, error=error)
        if run.task is not None:
            run.task.refresh_from_db()
        return run
