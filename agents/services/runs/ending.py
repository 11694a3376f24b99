"""Ending runs: finished, failed, cancelled or expired; a task run's end settles its
task and frees its agent in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import signals
from django.utils import timezone

from agents import run_end_statements, shapes
from agents.models import Agent, AgentRun, AgentStep
from agents.services.logs import run_metric_rows
from agents.services.runs.delivery import (
    LEASE_EXPIRED,
    REVIEW_DIFF_WARM_TASK,
    _queue,
    dispatch_after_commit,
)
from agents.services.runs.locks import agent_lock, run_agent_lock
from core.db import prepared_cursor
from core.errors import ConflictError
from core.inserts import insert_rows, insert_statement, mark_inserted
from core.queue import enqueue_on_commit
from planning import services as planning_services
from planning.models import Task


def _end(
    run: AgentRun, *, status: str, now: datetime, error: str, result: dict[str, Any]
) -> int | None:
    """Record the run's end; returns its task's QA iterations, for _settle, when the
    statement that recorded it read them (None: they are read when needed)."""
    run.status = status
    # Never before started_at, even on a clock that stepped back.
    run.finished_at = max(now, run.started_at) if run.started_at else now
    run.error = error
    run.lease_expires_at = None
    run.result = {**run.result, **result}
    # A coding CLI's run key stops working with its run.
    run.key_hash = ""
    fields = run_end_statements.RUN_ENDED_FIELDS
    if signals.pre_save.has_listeners(AgentRun) or signals.post_save.has_listeners(AgentRun):
        run.save(update_fields=[field.name for field in fields])
        return None
    # What run.save(update_fields=...) does, as a prepared statement: every run ends here.
    values = [field.get_db_prep_save(field.pre_save(run, False), connection) for field in fields]
    with prepared_cursor() as cursor:
        cursor.execute(run_end_statements.run_ended(), (*values, run.pk))
        row = cursor.fetchone()
    if row is None:
        raise DatabaseError("Save with update_fields did not affect any rows.")
    return int(row[0])


def _settle(
    run: AgentRun, *, now: datetime, active: bool = True, qa_iterations: int | None = None
) -> None:
    """After a task run's end: record its metrics, move its task on, free its agent.
    `qa_iterations`: the task's, when _end read them.

    A built-in agent's task becomes done, failed or (cancelled) pending again, unless
    someone closed it or gave it to another agent meanwhile. An external agent's task
    is settled only while the agent still has it in progress: done, or back in the
    queue."""
    metrics = run_metric_rows(run=run, qa_iterations=qa_iterations)
    # The agent's row before the task's, in the order every path locks them.
    at = connection.ops.adapt_datetimefield_value(now)
    freed = run_end_statements.agent_freed(active=active, with_task=run.task_id is not None)
    freed_params = (
        Agent.Status.IDLE.value,
        at,
        *([at] if active else []),
        run.agent_id,
        Agent.Status.BUSY.value,
        *([run.task_id] if run.task_id is not None else []),
    )
    insert = insert_statement(metrics) if connection.vendor == "postgresql" else None
    if insert is None:
        insert_rows(metrics)
        with prepared_cursor() as cursor:
            cursor.execute(freed, freed_params)
    else:
        # One statement, not two: the metrics' INSERT in its WITH clause.
        insert_sql, insert_params = insert
        with transaction.mark_for_rollback_on_error(), prepared_cursor() as cursor:
            cursor.execute(
                run_end_statements.agent_freed_with_metrics(insert_sql, freed),
                (*insert_params, *freed_params),
            )
            ids = cursor.fetchall()
        for metric, (pk,) in zip(metrics, ids, strict=True):
            mark_inserted(metric, pk)
    if run.task_id is None or run.kind == AgentRun.Kind.REVIEW:
        # A reviewer's verdict acted on the task when it was given (services.reviews).
        return
    external = run.agent.type == Agent.Type.EXTERNAL
    if run.status == AgentRun.Status.SUCCEEDED:
        # An external agent reports its task done itself; a built-in or CLI agent's
        # work waits for a reviewer (its checks, if any, have passed).
        # (An external agent that names the branch holding its work waits for one too.)
        task_status = Task.Status.DONE if external and not run.branch_name else Task.Status.REVIEW
    elif run.status == AgentRun.Status.CANCELLED or external:
        task_status = Task.Status.PENDING
    elif run.result.get("qa_blocked"):
        task_status = Task.Status.BLOCKED
    else:
        task_status = Task.Status.FAILED
    succeeded = run.status == AgentRun.Status.SUCCEEDED
    # Its feature, sub-feature and project roll up in this transaction, never waiting
    # for their rows (see planning.services.rollup: dispatch holds the project's).
    planning_services.task_release(
        task_id=run.task_id,
        status=task_status,
        agent_id=run.agent_id,
        held_only=external,
        coded_by_id=run.agent_id if succeeded else None,
        project_id=run.project_id,
    )
    if task_status == Task.Status.REVIEW and run.branch_name:
        # Read and colour the attempt's diff before a reviewer opens it, on the host that
        # holds the repository (agents.services.review_diffs).
        enqueue_on_commit(REVIEW_DIFF_WARM_TASK, run.pk, queue=_queue(run))


def run_still_running(*, run: AgentRun) -> bool:
    """Lock the run (until the caller's transaction ends) and say whether it is still
    running: someone may have cancelled it meanwhile. Its status and error are
    refreshed."""
    # The agent first: the caller may end the run, which frees its agent.
    agent_lock(agent_id=run.agent_id)
    locked = AgentRun.objects.select_for_update().filter(pk=run.pk).values("status", "error").get()
    run.status, run.error = locked["status"], locked["error"]
    return run.status == AgentRun.Status.RUNNING


def run_finish(
    *,
    run: AgentRun,
    succeeded: bool,
    summary: str | None = None,
    error: str = "",
    result: dict[str, Any] | None = None,
) -> AgentRun:
    """End a running run as succeeded or failed (inside the caller's transaction, which
    holds it locked). `summary` and `result` go into the run's result; a failed run's
    error defaults to its summary.

    A task run's task and agent are settled (see `_settle`) and the project dispatched
    once the transaction commits. A planning run ends on its own.
    """
    now = timezone.now()
    shapes.RUN_RESULT.check(result or {}, field="result")
    extra = dict(result or {})
    if summary is not None:
        extra["summary"] = summary
    status = AgentRun.Status.SUCCEEDED if succeeded else AgentRun.Status.FAILED
    qa_iterations = _end(
        run,
        status=status,
        now=now,
        error=error or ("" if succeeded else summary or ""),
        result=extra,
    )
    if run.kind in (AgentRun.Kind.TASK, AgentRun.Kind.REVIEW):
        _settle(run, now=now, qa_iterations=qa_iterations)
        dispatch_after_commit(run.project_id)
    return run


@transaction.atomic
def run_fail(*, run_id: int, error: str) -> AgentRun | None:
    """Give up on a built-in run whose step kept failing (the model unreachable after
    retries, a worker that died at every delivery). Returns None when it is not running."""
    run_agent_lock(run_id=run_id)
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


@transaction.atomic
def run_cancel(*, run: AgentRun, reason: str = "cancelled") -> AgentRun:
    """Stop a run at its next step boundary; its task goes back to pending. Raises
    ConflictError when it has ended."""
    # The agent first, then the run: the order every path takes them in (agent_lock).
    agent = Agent.objects.select_for_update(no_key=True).get(pk=run.agent_id)
    run = AgentRun.objects.select_for_update().get(pk=run.pk)
    run.agent = agent
    if run.status not in AgentRun.ACTIVE_STATUSES:
        raise ConflictError(f"Run {run.pk} is already {run.status}.")
    now = timezone.now()
    qa_iterations = _end(run, status=AgentRun.Status.CANCELLED, now=now, error=reason, result={})
    # No dispatch: the task would go straight back to an agent. The periodic sweep
    # hands it out again while the project runs.
    _settle(run, now=now, qa_iterations=qa_iterations)
    return run


def run_expire(*, run: AgentRun, now: datetime) -> AgentRun:
    """Fail an external agent's run whose lease ran out (inside the caller's
    transaction, which holds the agent and the run locked): its task goes back to the
    queue, its agent turns idle, and a late completion of the run is refused."""
    qa_iterations = _end(
        run, status=AgentRun.Status.FAILED, now=now, error=LEASE_EXPIRED, result={}
    )
    _settle(run, now=now, active=False, qa_iterations=qa_iterations)
    dispatch_after_commit(run.project_id)
    return run
