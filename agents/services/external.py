"""External agents: keys, claiming tasks under a lease, reporting, and finishing runs.

Every function that takes more than one row lock takes them in one order: the agent, then
the run, then the task. A claim locks its agent first, so one agent's concurrent requests
queue behind each other, and picks its task with SKIP LOCKED, so different agents never
wait for each other. On SQLite, where there is no row locking, the settings' IMMEDIATE
transactions take the write lock before the first read, which serialises claims.

A run is fenced by (run, attempt, lease): once its lease has expired or it has ended, a
late completion from that attempt changes nothing.
"""

import functools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import (
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.utils import timezone

from agents.auth import KEY_PREFIX, agent_key_hash
from agents.models import Agent, AgentRun, DecisionLog, Metric, ToolCall
from agents.services import orchestrator
from agents.services._common import _save
from agents.services.agents import agent_create
from agents.services.logs import run_metrics_record
from core.db import column_list, insert_rows, instance_from_row, prepared_cursor
from core.errors import ConflictError, DomainError, PermissionDeniedError
from planning.models import Feature, Project, SubFeature, Task, TaskDependency
from planning.selectors import (
    STARTED_STATUSES,
    task_dependency_count,
    task_ready_in_next_order,
    task_ready_list,
)

DEFAULT_LEASE_SECONDS = 300
MIN_LEASE_SECONDS = 10
MAX_LEASE_SECONDS = 24 * 3600
MAX_REPORT_ITEMS = 1000
LEASE_EXPIRED = "lease expired"
# Shown after the key prefix, so people can tell keys apart without seeing them.
DISPLAYED_KEY_CHARS = 12


class ReportItemError(DomainError):
    """One item of a report batch is invalid; nothing of the batch was written."""

    def __init__(self, index: int, message: str, *, field: str | None = None) -> None:
        super().__init__(f"Item {index}: {message}", field=field)
        self.index = index
        self.item_message = message


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
    Raises DomainError for an agent that is not external, or is terminated.
    """
    if agent.type != Agent.Type.EXTERNAL:
        raise DomainError(
            f"Agent {agent.name} is a built-in {agent.type}; only external agents use keys.",
            field="type",
        )
    if agent.status == Agent.Status.TERMINATED:
        raise DomainError(f"Agent {agent.name} is terminated.", field="status")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    agent.api_key_hash = agent_key_hash(key)
    agent.api_key_prefix = key[:DISPLAYED_KEY_CHARS]
    _save(agent, update_fields=["api_key_hash", "api_key_prefix", "updated_at"])
    return IssuedKey(agent=agent, key=key)


@transaction.atomic
def external_agent_create(*, project: Project, name: str, model: str = "") -> IssuedKey:
    """Register an external agent with its first key: both happen or neither does."""
    agent = agent_create(project=project, name=name, type=Agent.Type.EXTERNAL, model=model)
    return agent_key_issue(agent=agent)


@transaction.atomic
def agent_key_revoke(*, agent: Agent) -> Agent:
    """Forget the agent's key, so requests made with it fail from now on."""
    agent.api_key_hash = ""
    agent.api_key_prefix = ""
    _save(agent, update_fields=["api_key_hash", "api_key_prefix", "updated_at"])
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
        Agent.objects.select_for_update(of=("self",)).select_related("project").get(pk=agent.pk)
    )
    if locked.status == Agent.Status.TERMINATED:
        raise PermissionDeniedError(f"Agent {locked.name} is terminated.")
    return locked


# An external agent's hot path, written out once (see _LOCK_FOR_CLAIM below for why).
_RUN_FIELDS = tuple(AgentRun._meta.concrete_fields)


# The status is a literal so that PostgreSQL matches the partial index
# agentrun_running_by_agent even under a prepared statement's generic plan.
_HELD_RUN = (
    f'SELECT {column_list(_RUN_FIELDS)} FROM "agents_agentrun" '
    f'WHERE "agent_id" = %s AND "status" = \'{AgentRun.Status.RUNNING.value}\' '
    'ORDER BY "id" DESC LIMIT 1'
)


def _held_run(agent: Agent) -> AgentRun | None:
    with prepared_cursor() as cursor:
        cursor.execute(_HELD_RUN, (agent.pk,))
        row = cursor.fetchone()
    return None if row is None else instance_from_row(AgentRun, _RUN_FIELDS, row)


def _lease_live(run: AgentRun, now: datetime) -> bool:
    return run.lease_expires_at is not None and run.lease_expires_at > now


# Stands for the claiming agent's id in the claim's compiled statements; replaced by a
# parameter. No agent has a negative id.
_CLAIMING_AGENT = -7_340_117


def _claim_candidates(project: Project) -> list[list[QuerySet[Task]]]:
    """Ready tasks an agent may take, as queries tried in turn: each names at most one
    task, and the first that names one (locked, skipping tasks other claims have
    locked) names the task to claim. They come in two stages, one statement each.

    A task assigned to an agent is that agent's, as in dispatch: it goes to no other
    agent, and to its own before any other task. Together the queries follow the rules
    of task_next_ready: tasks of plans already started first, then priority, wave,
    fewer dependencies, key. `checkpoint:*` tasks are left out: they wait for a person.
    The cheap ones come first, so that a claim usually reads a few index entries
    instead of ranking every ready task:

    1. the best task assigned to the claiming agent (read off the assignment index);
    2. the best task of a started plan (a sort of those plans' ready tasks only);
    3. in the best (priority, wave) group, the first task without dependencies in key
       order, read off task_next_ready_idx: no task of the group can come before it;
    then, only when those find nothing,
    4. in that group, the best task by dependency count, then key;
    5. every ready task in the full order, for when the best group is all locked.

    The claiming agent's id is `_CLAIMING_AGENT` here (see _claim_statements).
    """
    in_order = task_ready_in_next_order(project=project).exclude(type__startswith="checkpoint:")
    own = in_order.filter(assigned_agent_id=_CLAIMING_AGENT)
    ready = (
        task_ready_list(project=project)
        .exclude(type__startswith="checkpoint:")
        .filter(assigned_agent__isnull=True)
    )
    started_plans = SubFeature.objects.filter(project=project).filter(
        Q(status=SubFeature.Status.IN_PROGRESS) | Q(tasks__status__in=STARTED_STATUSES)
    )
    best = ready.order_by("priority_rank", "wave", "key")
    best_priority = Subquery(best.values("priority_rank")[:1])
    best_wave = Subquery(best.values("wave")[:1])
    best_group = ready.filter(priority_rank=best_priority, wave=best_wave)
    without_dependencies = ~Exists(TaskDependency.objects.filter(task=OuterRef("pk")))
    first = [
        own,
        # Exists() first: without started plans, PostgreSQL skips the rest outright.
        ready.filter(Exists(started_plans), sub_feature_id__in=started_plans.values("id"))
        .annotate(dependency_count=task_dependency_count())
        .order_by("priority_rank", "wave", "dependency_count", "key"),
        # The wave as a range, not an equality, and ordered by: only task_next_ready_idx
        # gives that order, so PostgreSQL walks it even before it has statistics (with
        # the wave fixed, the index on (project, key) looks as good, and is not).
        ready.filter(without_dependencies, priority_rank=best_priority)
        .filter(wave__gte=best_wave, wave__lte=best_wave)
        .order_by("wave", "key"),
    ]
    then = [
        best_group.annotate(dependency_count=task_dependency_count()).order_by(
            "dependency_count", "key"
        ),
        in_order.filter(assigned_agent__isnull=True),
    ]
    return [first, then]


# The task's own columns, as a claim reads them back.
_CLAIMED_TASK_FIELDS = tuple(Task._meta.concrete_fields)


@functools.lru_cache(maxsize=256)
def _claim_statements(project_id: int, alias: str = DEFAULT_DB_ALIAS) -> list[tuple[str, tuple]]:
    """The SQL that claims the best claimable task of a project for an agent, one
    statement per stage of _claim_candidates, with their parameters after the first
    four (status, agent id, now, now); `_CLAIMING_AGENT` among them stands for the
    claiming agent's id.

    Each is one UPDATE: it sets the task in progress for the agent and returns the
    task's columns, how many runs it had before, how many dependencies it has and the
    keys of its feature and sub-feature; or no row when its candidates find none. The
    candidates are scalar subqueries in a COALESCE, so each runs only if those before
    it found nothing. (PostgreSQL still sets up every subquery of a statement it runs,
    which is why the rarer fallbacks have a statement of their own.) Compiling them
    costs more than running them, and they depend only on the project, so they are
    compiled once per project and process (inside a transaction: Django refuses to
    compile FOR UPDATE outside one).
    """
    ops, vendor = connections[alias].ops, connections[alias].vendor
    columns = column_list(_CLAIMED_TASK_FIELDS, "planning_task")
    statements = []
    for stage in _claim_candidates(Project(pk=project_id)):
        candidates, params = [], []
        for queryset in stage:
            locked = queryset.select_for_update(skip_locked=True, of=("self",)).values("pk")[:1]
            sql, candidate_params = locked.query.get_compiler(alias).as_sql()
            if vendor == "postgresql":
                # Constants as literals: PostgreSQL plans with the actual values, and a
                # claim sends a few parameters rather than dozens.
                sql = ops.compose_sql(sql, candidate_params).replace("%", "%%")
                sentinel = ops.compose_sql("%s", (_CLAIMING_AGENT,))
                candidate_params = (_CLAIMING_AGENT,) * sql.count(sentinel)
                sql = sql.replace(sentinel, "%s")
            candidates.append(f"({sql})")
            params.extend(candidate_params)
        sql = (
            'UPDATE "planning_task" SET "status" = %s, "assigned_agent_id" = %s, '
            '"started_at" = COALESCE("started_at", %s), "updated_at" = %s '
            f'WHERE "id" = COALESCE({", ".join(candidates)}) '
            # The lock already guarantees it; never re-assign a task all the same.
            f"""AND "status" = '{Task.Status.PENDING.value}' """
            f"RETURNING {columns}, "
            '(SELECT COUNT(*) FROM "agents_agentrun" '
            'WHERE "agents_agentrun"."task_id" = "planning_task"."id"), '
            '(SELECT COUNT(*) FROM "planning_taskdependency" '
            'WHERE "planning_taskdependency"."task_id" = "planning_task"."id"), '
            '(SELECT "key" FROM "planning_feature" '
            'WHERE "planning_feature"."id" = "planning_task"."feature_id"), '
            '(SELECT "key" FROM "planning_subfeature" '
            'WHERE "planning_subfeature"."id" = "planning_task"."sub_feature_id")'
        )
        statements.append((sql, tuple(params)))
    if _CLAIMING_AGENT not in statements[0][1]:
        # The own-task candidate would match no agent: fail loudly, not silently.
        raise RuntimeError("The claiming agent's placeholder is missing from the claim.")
    return statements


def _claim_next_task(agent: Agent, now: datetime) -> tuple[Task, int] | None:
    """Claim the best claimable task of the agent's project, inside the claim's
    transaction (which keeps it locked): the task, with `dependency_count` and its
    feature and sub-feature (loaded with their keys only), and how many runs it had
    before; or None."""
    at = connection.ops.adapt_datetimefield_value(now)
    with prepared_cursor() as cursor:
        for sql, params in _claim_statements(agent.project_id):
            params = tuple(agent.pk if p == _CLAIMING_AGENT else p for p in params)
            cursor.execute(sql, (Task.Status.IN_PROGRESS.value, agent.pk, at, at, *params))
            row = cursor.fetchone()
            if row is not None:
                break
        else:
            return None
    *columns, earlier_runs, dependency_count, feature_key, sub_feature_key = row
    task = instance_from_row(Task, _CLAIMED_TASK_FIELDS, columns)
    task.dependency_count = dependency_count
    if task.feature_id is not None:
        task.feature = Feature.from_db(
            connection.alias, ["id", "key"], [task.feature_id, feature_key]
        )
    if task.sub_feature_id is not None:
        task.sub_feature = SubFeature.from_db(
            connection.alias, ["id", "key"], [task.sub_feature_id, sub_feature_key]
        )
    return task, earlier_runs


# The claim's statements besides the pick, written out because they run on every claim
# and compiling a queryset costs several times what running it does. The first locks the
# claiming agent and reads what decides whether it may claim.
_LOCK_FOR_CLAIM = (
    'SELECT "agents_agent"."status", "planning_project"."status" '
    'FROM "agents_agent" INNER JOIN "planning_project" '
    'ON "planning_project"."id" = "agents_agent"."project_id" '
    'WHERE "agents_agent"."id" = %s'
)
# The second marks the agent busy with the task it claimed.
_AGENT_BUSY = (
    'UPDATE "agents_agent" SET "status" = %s, "current_task_id" = %s, '
    '"last_activity_at" = %s, "updated_at" = %s WHERE "id" = %s'
)


def _lock_for_claim(agent: Agent) -> str:
    """Lock the agent as _lock_agent does, with one cheap statement: the claim's hot
    path. Returns its project's status."""
    sql = _LOCK_FOR_CLAIM
    if connection.features.has_select_for_update:
        sql += " " + connection.ops.for_update_sql(of=('"agents_agent"',))
    with prepared_cursor() as cursor:
        cursor.execute(sql, (agent.pk,))
        row = cursor.fetchone()
    if row is None:
        raise Agent.DoesNotExist(f"Agent {agent.pk} no longer exists.")
    status, project_status = row
    if status == Agent.Status.TERMINATED:
        raise PermissionDeniedError(f"Agent {agent.name} is terminated.")
    return project_status


def _end_run(
    run: AgentRun, *, status: str, now: datetime, error: str = "", result: Any = None
) -> None:
    run.status = status
    run.finished_at = max(now, run.started_at) if run.started_at else now
    run.error = error
    update_fields = ["status", "finished_at", "error", "updated_at"]
    if result is not None:
        run.result = result
        update_fields.append("result")
    run.save(update_fields=update_fields)
    run_metrics_record(run=run)


def _release_task(run: AgentRun, *, now: datetime) -> None:
    """Put the run's task back in the queue, unless someone has moved it on since."""
    if run.task_id is None:
        return
    Task.objects.filter(
        pk=run.task_id, status=Task.Status.IN_PROGRESS, assigned_agent_id=run.agent_id
    ).update(status=Task.Status.PENDING, assigned_agent=None, updated_at=now)


def _free_agent(agent_id: int, *, now: datetime, active: bool) -> None:
    fields: dict[str, Any] = {"status": Agent.Status.IDLE, "current_task": None, "updated_at": now}
    if active:
        fields["last_activity_at"] = now
    Agent.objects.filter(pk=agent_id, status=Agent.Status.BUSY).update(**fields)


def _expire(run: AgentRun, *, now: datetime) -> None:
    _end_run(run, status=AgentRun.Status.FAILED, now=now, error=LEASE_EXPIRED)
    _release_task(run, now=now)
    _free_agent(run.agent_id, now=now, active=False)
    orchestrator.dispatch_after_commit(run.project_id)


def task_claim(*, agent: Agent, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> AgentRun | None:
    """Claim the next ready task for `agent`, under a lease of `lease_seconds`.

    The task goes in progress, assigned to the agent; a running task run is created with
    the next attempt number; the agent turns busy. Returns the run (with its task), or
    None when no task is ready. `checkpoint:*` tasks are never claimed.

    Raises ConflictError while the agent holds a run whose lease is live (one whose lease
    has expired is failed first, as stale_leases_expire would), DomainError for a lease
    out of range, PermissionDeniedError for a terminated agent.
    """
    _check_lease_seconds(lease_seconds)
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
            _expire(held, now=now)
        claimed = None if project_status in NOT_CLAIMING else _claim_next_task(agent, now)
        if claimed is None:
            Agent.objects.filter(pk=agent.pk).update(last_activity_at=now)
            return None
        task, earlier_runs = claimed
        attempt = earlier_runs + 1
        at = connection.ops.adapt_datetimefield_value(now)
        run = AgentRun(
            project_id=agent.project_id,
            agent=agent,
            task=task,
            kind=AgentRun.Kind.TASK,
            status=AgentRun.Status.RUNNING,
            attempt=attempt,
            # Unique: should two transactions ever take the same task, one fails here.
            idempotency_key=f"claim:task-{task.pk}:attempt-{attempt}",
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            heartbeat_at=now,
            started_at=now,
            payload={"task": task.key, "lease_seconds": lease_seconds},
        )
        insert_rows([run])
        with prepared_cursor() as cursor:
            cursor.execute(_AGENT_BUSY, (Agent.Status.BUSY.value, task.pk, at, at, agent.pk))
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
            run.heartbeat_at = now
            run.lease_expires_at = now + timedelta(seconds=seconds)
            run.save(update_fields=["heartbeat_at", "lease_expires_at", "updated_at"])
            return run
        expired_at = run.lease_expires_at
        _expire(run, now=now)
    raise LeaseExpiredError(
        f"The lease on run {run.pk} expired at {expired_at:%Y-%m-%dT%H:%M:%SZ}; "
        "the run has failed and its task is back in the queue. Claim again."
        if expired_at
        else f"Run {run.pk} has no lease; it has failed and its task is back in the queue."
    )


def stale_leases_expire(*, now: datetime | None = None) -> int:
    """Fail the runs of external agents whose lease ran out without a heartbeat.

    Each such run fails with the error "lease expired", its task goes back to pending
    (unassigned) and its agent turns idle; a late completion of the run is then refused.
    Returns how many runs expired. Runs of built-in agents are left to the orchestrator,
    which re-delivers their step instead (`stale_runs_recover`).
    """
    now = now or timezone.now()
    stale = list(
        AgentRun.objects.filter(
            status=AgentRun.Status.RUNNING,
            agent__type=Agent.Type.EXTERNAL,
            lease_expires_at__lt=now,
        ).values_list("pk", "agent_id")
    )
    expired = 0
    for run_id, agent_id in stale:
        # One transaction per run, so a busy row delays only its own run.
        with transaction.atomic():
            list(Agent.objects.select_for_update().filter(pk=agent_id).values_list("pk"))
            run = (
                AgentRun.objects.select_for_update()
                .filter(pk=run_id, status=AgentRun.Status.RUNNING, lease_expires_at__lt=now)
                .first()
            )
            if run is not None:
                _expire(run, now=timezone.now())
                expired += 1
    return expired


# Finishing ----------------------------------------------------------------------------


def _fenced_run(run: AgentRun, *, agent: Agent, attempt: int, now: datetime) -> AgentRun:
    """The run, locked, if this agent's attempt may still finish it; else ConflictError."""
    run = AgentRun.objects.select_for_update(of=("self",)).select_related("task").get(pk=run.pk)
    if run.agent_id != agent.pk:
        raise ConflictError(f"Run {run.pk} is held by another agent.")
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
    *, run: AgentRun, agent: Agent, attempt: int, result: Mapping[str, Any] | None = None
) -> AgentRun:
    """Finish the agent's run as succeeded: its task is done, the agent idle.

    Records the run's task_duration Metric (seconds). Raises ConflictError, changing
    nothing, unless `agent` holds the run, it is running, `attempt` is its attempt and
    its lease has not expired.
    """
    with transaction.atomic():
        agent = _lock_agent(agent)
        now = timezone.now()
        run = _fenced_run(run, agent=agent, attempt=attempt, now=now)
        _end_run(run, status=AgentRun.Status.SUCCEEDED, now=now, result=dict(result or {}))
        task = run.task
        if (
            task is not None
            and task.status == Task.Status.IN_PROGRESS
            and task.assigned_agent_id == agent.pk
        ):
            task.status = Task.Status.DONE
            task.completed_at = max(now, task.started_at) if task.started_at else now
            # Let go, as a built-in run's end does: a done task holds no agent.
            task.assigned_agent = None
            task.save(update_fields=["status", "completed_at", "assigned_agent", "updated_at"])
        _free_agent(agent.pk, now=now, active=True)
        orchestrator.dispatch_after_commit(run.project_id)
        Metric.objects.create(
            project_id=run.project_id,
            agent=agent,
            run=run,
            task_id=run.task_id,
            type=Metric.Type.TASK_DURATION,
            value=(run.finished_at - run.started_at).total_seconds() if run.started_at else 0.0,
            metadata={"unit": "s", "attempt": run.attempt},
            recorded_at=now,
        )
        return run


def agent_run_fail(*, run: AgentRun, agent: Agent, attempt: int, error: str) -> AgentRun:
    """Finish the agent's run as failed: its task goes back to pending, the agent idle.

    Raises ConflictError, changing nothing, unless `agent` holds the run, it is running,
    `attempt` is its attempt and its lease has not expired.
    """
    with transaction.atomic():
        agent = _lock_agent(agent)
        now = timezone.now()
        run = _fenced_run(run, agent=agent, attempt=attempt, now=now)
        _end_run(run, status=AgentRun.Status.FAILED, now=now, error=error)
        _release_task(run, now=now)
        _free_agent(agent.pk, now=now, active=True)
        orchestrator.dispatch_after_commit(run.project_id)
        if run.task is not None:
            run.task.refresh_from_db()
        return run


# Reports ------------------------------------------------------------------------------


def _reporting_run(run: AgentRun, *, agent: Agent, reports: Sequence[Any]) -> AgentRun:
    if not reports:
        raise DomainError("Send one report, or a list of them.")
    if len(reports) > MAX_REPORT_ITEMS:
        raise DomainError(f"Send at most {MAX_REPORT_ITEMS} reports at a time.")
    # Locked so that two requests reporting the same call cannot both log its start.
    run = AgentRun.objects.select_for_update().get(pk=run.pk)
    if run.agent_id != agent.pk:
        raise PermissionDeniedError(f"Run {run.pk} belongs to another agent.")
    return run


@dataclass(frozen=True)
class ReportedToolCall:
    started: ToolCall
    completion: ToolCall | None
    rows_written: int  # by this report: 0 for a replay, 1 or 2 otherwise


def tool_calls_report(
    *, run: AgentRun, agent: Agent, reports: Sequence[Mapping[str, Any]]
) -> list[ReportedToolCall]:
    """Log tool calls of the agent's run, all or none, and return them in report order.

    A call is named by (step, call_id); step may be None. A report without a status logs
    the call's start; one with a status logs its completion too, and its start unless
    that is already logged. Whatever is already logged is not logged again, so a retried
    request is harmless. Reports are accepted after the run has ended: the audit trail
    keeps what a stale attempt did.

    Raises ReportItemError for a report that would start a call without naming its tool,
    PermissionDeniedError for another agent's run, DomainError for an empty or too big
    batch.
    """
    with transaction.atomic():
        run = _reporting_run(run, agent=agent, reports=reports)
        now = timezone.now()
        started: dict[tuple[int | None, str], ToolCall] = {}
        completions: dict[tuple[int | None, str], ToolCall] = {}
        logged = ToolCall.objects.filter(
            run=run, started__isnull=True, call_id__in={r["call_id"] for r in reports}
        ).select_related("completion")
        for call in logged:
            started[call.step, call.call_id] = call
            completion = getattr(call, "completion", None)
            if completion is not None:
                completions[call.step, call.call_id] = completion
        new_starts: list[ToolCall] = []
        to_complete: dict[tuple[int | None, str], Mapping[str, Any]] = {}
        keys = []
        for index, report in enumerate(reports):
            key = (report.get("step"), report["call_id"])
            keys.append(key)
            if key not in started:
                if not report.get("tool_name"):
                    raise ReportItemError(
                        index,
                        f"call {report['call_id']!r} has not been started; give its tool_name.",
                        field="tool_name",
                    )
                input = report.get("input")
                started[key] = ToolCall(
                    project_id=run.project_id,
                    agent_id=run.agent_id,
                    run=run,
                    task_id=run.task_id,
                    step=key[0],
                    call_id=key[1],
                    tool_name=report["tool_name"],
                    input={} if input is None else input,
                    created_at=now,
                )
                new_starts.append(started[key])
            if report.get("status") and key not in completions and key not in to_complete:
                to_complete[key] = report
        ToolCall.objects.bulk_create(new_starts)
        new_completions = [
            ToolCall(
                project_id=run.project_id,
                agent_id=run.agent_id,
                run=run,
                task_id=run.task_id,
                started=started[key],
                step=key[0],
                call_id=key[1],
                tool_name=started[key].tool_name,
                status=report["status"],
                output=report.get("output"),
                error=report.get("error") or "",
                duration_ms=report.get("duration_ms"),
                created_at=now,
            )
            for key, report in to_complete.items()
        ]
        ToolCall.objects.bulk_create(new_completions)
        completions.update(zip(to_complete, new_completions, strict=True))
        new_rows = {id(row) for row in (*new_starts, *new_completions)}
        reported = []
        for key in keys:
            completion = completions.get(key)
            rows = (started[key], completion)
            written = sum(1 for row in rows if id(row) in new_rows)
            new_rows -= {id(row) for row in rows}
            reported.append(ReportedToolCall(started[key], completion, rows_written=written))
        return reported


def decisions_report(
    *, run: AgentRun, agent: Agent, reports: Sequence[Mapping[str, Any]]
) -> list[DecisionLog]:
    """Log decisions of the agent's run, all or none.

    Raises ReportItemError for a decision without text, PermissionDeniedError for
    another agent's run, DomainError for an empty or too big batch.
    """
    with transaction.atomic():
        run = _reporting_run(run, agent=agent, reports=reports)
        now = timezone.now()
        rows = []
        for index, report in enumerate(reports):
            if not str(report.get("decision") or "").strip():
                raise ReportItemError(index, "a decision needs its text.", field="decision")
            reasoning = report.get("reasoning")
            rows.append(
                DecisionLog(
                    project_id=run.project_id,
                    agent_id=run.agent_id,
                    run=run,
                    task_id=run.task_id,
                    decision=report["decision"],
                    reasoning={} if reasoning is None else reasoning,
                    created_at=now,
                )
            )
        return DecisionLog.objects.bulk_create(rows)


def metrics_report(
    *, run: AgentRun, agent: Agent, reports: Sequence[Mapping[str, Any]]
) -> list[Metric]:
    """Record measurements of the agent's run, all or none.

    Raises ReportItemError for an unknown metric type, PermissionDeniedError for another
    agent's run, DomainError for an empty or too big batch.
    """
    with transaction.atomic():
        run = _reporting_run(run, agent=agent, reports=reports)
        now = timezone.now()
        rows = []
        for index, report in enumerate(reports):
            if report.get("type") not in Metric.Type.values:
                raise ReportItemError(
                    index, f"{report.get('type')!r} is not a metric type.", field="type"
                )
            metadata = report.get("metadata")
            rows.append(
                Metric(
                    project_id=run.project_id,
                    agent_id=run.agent_id,
                    run=run,
                    task_id=run.task_id,
                    type=report["type"],
                    value=report["value"],
                    metadata={} if metadata is None else metadata,
                    recorded_at=report.get("recorded_at") or now,
                )
            )
        return Metric.objects.bulk_create(rows)
