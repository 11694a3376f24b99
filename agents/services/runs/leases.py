"""Leases and progress: a running run's lease renewed by its steps, heartbeats and
long work, so the stale-run sweep leaves it be."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from agents import statements
from agents.models import Agent, AgentRun
from agents.services.runs.delivery import _lease
from core.db import instance_from_row, prepared_cursor
from planning.models import Project, Task


def run_lease_renew_for_step(*, run_id: int, number: int, now: datetime) -> AgentRun | None:
    """Renew the lease of a running run as a delivery of its step `number` begins, and
    record the step as its progress; the run stays locked until the caller's
    transaction ends. Returns the run (its own columns only), or None when it is not
    running. One prepared statement: every delivery of every step runs it."""
    at = connection.ops.adapt_datetimefield_value(now)
    lease = connection.ops.adapt_datetimefield_value(_lease(now))
    with prepared_cursor() as cursor:
        cursor.execute(
            statements.step_statements(connection.vendor).renew_lease,
            (at, lease, at, number, run_id),
        )
        row = cursor.fetchone()
    return None if row is None else instance_from_row(AgentRun, statements.RUN_FIELDS, row)


def run_lease_renew_claiming_step(
    *, run_id: int, number: int, now: datetime
) -> tuple[AgentRun, tuple[Any, ...]] | None:
    """PostgreSQL: run_lease_renew_for_step, and the claim of step `number`, in one
    statement of its own transaction (statements.StepStatements.claim_step): the run is
    renewed unless the step is over. Returns the run (its own columns) with the rest of
    the statement's row, or None when the run is not running or the step is over."""
    sql = statements.step_statements(connection.vendor).claim_step
    assert sql is not None, "one statement claims a step on PostgreSQL only"
    at = connection.ops.adapt_datetimefield_value(now)
    lease = connection.ops.adapt_datetimefield_value(_lease(now))
    with prepared_cursor() as cursor:
        cursor.execute(sql, {"at": at, "lease": lease, "number": number, "run": run_id})
        row = cursor.fetchone()
    if row is None:
        return None
    run_end = len(statements.RUN_FIELDS)
    return instance_from_row(AgentRun, statements.RUN_FIELDS, row[:run_end]), tuple(row[run_end:])


def run_lease_extend(*, run: AgentRun, seconds: int, now: datetime) -> AgentRun:
    """An external agent's heartbeat: extend the lease on its run by `seconds`."""
    run.heartbeat_at = now
    run.lease_expires_at = now + timedelta(seconds=seconds)
    run.save(update_fields=["heartbeat_at", "lease_expires_at", "updated_at"])
    return run


def run_heartbeat(*, run_id: int) -> bool:
    """Renew a running run's lease while long work goes on outside a step's
    transactions (an agent's command); returns whether the run is still running (a
    cancelled one stops its command)."""
    now = timezone.now()
    renewed = AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.RUNNING).update(
        heartbeat_at=now, lease_expires_at=_lease(now), updated_at=now
    )
    return bool(renewed)


# How often long work outside a step (a command, a check, a setup) renews its run's lease.
LEASE_RENEW_S = 30.0


def run_stopped_check(
    *, run_id: int, on_tick: Callable[[], None] | None = None
) -> Callable[[], bool]:
    """A predicate for a command runner's `should_cancel`, asked about every half second
    while long work of a running run goes on: whether the run has stopped (cancelled, or
    ended otherwise). It renews the run's lease every LEASE_RENEW_S, so the stale-run
    sweep leaves the work be, and calls `on_tick` first (to pass a log on, say)."""
    renewed_at = time.monotonic()

    def stopped() -> bool:
        nonlocal renewed_at
        if on_tick is not None:
            on_tick()
        if time.monotonic() - renewed_at >= LEASE_RENEW_S:
            renewed_at = time.monotonic()
            return not run_heartbeat(run_id=run_id)
        status = AgentRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
        return status != AgentRun.Status.RUNNING

    return stopped


def run_progress(*, run: AgentRun, lease: timedelta, **result: object) -> AgentRun:
    """Record a one-task run's progress; it is also its heartbeat, so the lease is
    extended by `lease`. A run that ended meanwhile (cancelled) is left alone."""
    run.result = {**run.result, **result}
    run.heartbeat_at = timezone.now()
    run.lease_expires_at = _lease(run.heartbeat_at, lease.total_seconds())
    AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.RUNNING).update(
        result=run.result, heartbeat_at=run.heartbeat_at, lease_expires_at=run.lease_expires_at
    )
    return run


def run_links_attach(run: AgentRun, links: Sequence[Any]) -> None:
    """Set the run's project, agent and task from a row of their columns, as the
    statements that load a run with them return it (PROJECT_FIELDS, AGENT_FIELDS, then
    TASK_FIELDS: NULLs for a run without a task)."""
    project_end = len(statements.PROJECT_FIELDS)
    agent_end = project_end + len(statements.AGENT_FIELDS)
    run.project = instance_from_row(Project, statements.PROJECT_FIELDS, links[:project_end])
    run.agent = instance_from_row(Agent, statements.AGENT_FIELDS, links[project_end:agent_end])
    run.task = (
        None
        if run.task_id is None
        else instance_from_row(Task, statements.TASK_FIELDS, links[agent_end:])
    )
