"""The periodic sweeps over runs whose worker died or whose lease ran out, and over
sent-back runs left waiting in a finished project."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import Agent, AgentRun, PlanningCycle
from agents.services.logs import planning_cycle_close
from agents.services.runs.delivery import (
    GENERATE_PLAN_TASK,
    PREPARE_TASK,
    VERIFY_TASK,
    _current_step,
    _enqueue_work,
    _lease,
    _queue,
    queued_resend_after,
)
from agents.services.runs.ending import run_cancel, run_expire, run_finish
from agents.services.runs.locks import agent_lock, run_agent_lock
from agents.services.runs.reopen import WAITS_FOR_AGENT, reopened_stranded
from agents.services.runs.start import DELIVERIES
from core.queue import enqueue_on_commit
from planning import services as planning_services
from planning.models import Project, Task

# Sweeps -----------------------------------------------------------------------------------


def stale_runs_recover(*, now: datetime | None = None) -> int:
    """Re-deliver the current step of built-in runs whose lease ran out without a
    heartbeat (their worker died), and deliver stale plan generations again (failing
    one delivered PLANNING_MAX_DELIVERIES times already); returns how many steps were
    re-delivered."""
    now = now or timezone.now()
    stale = AgentRun.objects.filter(
        status=AgentRun.Status.RUNNING, lease_expires_at__lt=now
    ).exclude(agent__type=Agent.Type.EXTERNAL)
    # Plan generation is one task, not a step loop: deliver it again.
    for planning_run_id in stale.filter(kind=AgentRun.Kind.PLANNING).values_list("pk", flat=True):
        _planning_redeliver(planning_run_id, now=now)
    # So is one still queued a while after it was asked for, whose message was lost on
    # the way (a broker down or restarted, a release that renamed the task): at most once
    # per QUEUED_RESEND_S, which its lease marks. Taking it ignores a queued run's lease.
    resend_after = queued_resend_after()
    lost = AgentRun.objects.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
        kind=AgentRun.Kind.PLANNING,
        status=AgentRun.Status.QUEUED,
        created_at__lt=now - resend_after,
    )
    lost_ids = list(lost.values_list("pk", flat=True))
    AgentRun.objects.filter(pk__in=lost_ids).update(
        lease_expires_at=now + resend_after, updated_at=now
    )
    for planning_run_id in lost_ids:
        enqueue_on_commit(GENERATE_PLAN_TASK, planning_run_id, queue=settings.AGENT_QUEUE)
    stale = stale.filter(kind__in=(AgentRun.Kind.TASK, AgentRun.Kind.REVIEW)).exclude(
        agent__type__in=Agent.NOT_DISPATCHED_TYPES
    )
    count = 0
    for run in stale:
        with transaction.atomic():
            run = (
                AgentRun.objects.select_for_update(of=("self",))
                .select_related("agent")
                .get(pk=run.pk)
            )
            if (
                run.status != AgentRun.Status.RUNNING
                or not run.lease_expires_at
                or run.lease_expires_at >= now
            ):
                continue
            run.lease_expires_at = _lease(now)
            run.save(update_fields=["lease_expires_at", "updated_at"])
            _redeliver(run)
            count += 1
    return count


def _planning_redeliver(run_id: int, *, now: datetime) -> None:
    """Deliver a stale plan generation again: back to queued, as it was asked for, with
    a lease that marks when it was sent (see the lost ones above); or, delivered too
    often already (its worker kept dying), fail it and close its planning cycle, which
    frees the project for a new one."""
    with transaction.atomic():
        run_agent_lock(run_id=run_id)
        run = (
            AgentRun.objects.select_for_update(of=("self",))
            .select_related("agent", "project")
            .get(pk=run_id)
        )
        if (
            run.status != AgentRun.Status.RUNNING
            or not run.lease_expires_at
            or run.lease_expires_at >= now
        ):
            return
        deliveries = int(run.result.get(DELIVERIES, 0))
        if deliveries < settings.PLANNING_MAX_DELIVERIES:
            run.status = AgentRun.Status.QUEUED
            run.lease_expires_at = now + queued_resend_after()
            run.save(update_fields=["status", "lease_expires_at", "updated_at"])
            enqueue_on_commit(GENERATE_PLAN_TASK, run.pk, queue=settings.AGENT_QUEUE)
            return
        error = (
            f"plan generation: {deliveries} deliveries ended without finishing it (its "
            "worker was killed, ran out of memory, or passed the time limit)"
        )
        run_finish(run=run, succeeded=False, error=error, result={"stage": "failed"})
        open_cycles = PlanningCycle.objects.filter(
            run=run, opened__isnull=True, closing__isnull=True
        )
        for cycle in open_cycles:
            planning_cycle_close(
                cycle=cycle, status=PlanningCycle.Status.ABANDONED, outcomes=[error]
            )


def _redeliver(run: AgentRun) -> None:
    """Deliver again the work of the stage a run is at (its worker died)."""
    if run.stage == AgentRun.Stage.PREPARING:
        enqueue_on_commit(PREPARE_TASK, run.pk, queue=settings.AGENT_QUEUE)
    elif run.stage == AgentRun.Stage.VERIFYING:
        enqueue_on_commit(VERIFY_TASK, run.pk, queue=_queue(run))
    else:
        _enqueue_work(run, _current_step(run))


def stale_leases_expire(*, now: datetime | None = None) -> int:
    """Fail the runs of external agents whose lease ran out without a heartbeat.

    Each such run fails with the error "lease expired", its task goes back to pending
    (unassigned) and its agent turns idle; a late completion of the run is then refused.
    Returns how many runs expired. Runs of built-in agents are re-delivered instead
    (`stale_runs_recover`).
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
            agent_lock(agent_id=agent_id)
            run = (
                AgentRun.objects.select_for_update(of=("self",))
                .select_related("agent")
                .filter(pk=run_id, status=AgentRun.Status.RUNNING, lease_expires_at__lt=now)
                .first()
            )
            if run is not None:
                run_expire(run=run, now=timezone.now())
                expired += 1
    return expired


def stranded_reopened_cancel() -> int:
    """Cancel the sent-back runs waiting for their agent or their files in a finished
    project (see reopen.reopened_stranded), which no dispatch will resume; returns how
    many were cancelled. Each is cancelled as run_cancel does: its task goes back to
    pending (a closed one keeps its status), which frees its files, and nothing waits
    for its agent any more. A run cancelled or resumed meanwhile is left alone, so a
    second sweep changes nothing."""
    # Only those reopened_stranded would cancel: a completed project's run whose task is
    # open keeps waiting, and is not locked again at every sweep.
    waiting = AgentRun.objects.filter(
        Q(project__status=Project.Status.ARCHIVED)
        | Q(task__isnull=True)
        | Q(task__status__in=planning_services.CLOSED_STATUSES),
        status=AgentRun.Status.QUEUED,
        kind=AgentRun.Kind.TASK,
        stage=AgentRun.Stage.CODING,
        result__has_key=WAITS_FOR_AGENT,
        project__status__in=Project.FINISHED_STATUSES,
    ).values_list("pk", "project_id")
    cancelled = 0
    for run_id, project_id in list(waiting):
        # One transaction per run. The project, the agent, the run, then the task: the
        # order dispatch takes them in, so a person's change to any of them is seen.
        with transaction.atomic():
            project = Project.objects.select_for_update(no_key=True).filter(pk=project_id).first()
            run_agent_lock(run_id=run_id)
            run = AgentRun.objects.select_for_update().filter(pk=run_id).first()
            if (
                project is None
                or run is None
                or run.status != AgentRun.Status.QUEUED
                or WAITS_FOR_AGENT not in run.result
            ):
                continue
            run.project = project
            if run.task_id is not None:
                run.task = Task.objects.select_for_update().filter(pk=run.task_id).first()
            reason = reopened_stranded(run)
            if reason is not None:
                run_cancel(run=run, reason=reason)
                cancelled += 1
    return cancelled
