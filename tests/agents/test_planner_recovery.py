"""A plan generation whose worker dies: the sweep delivers it again, carrying on its
planning cycle, at most PLANNING_MAX_DELIVERIES times; then it fails, its cycle closes,
and the project may generate again."""

from datetime import timedelta

import pytest

from agents.models import AgentRun, PlanningCycle
from agents.services import planner, runs
from core.errors import DomainError

pytestmark = pytest.mark.django_db


class WorkerKilled(BaseException):
    """What a worker's death looks like from inside it: nothing after runs."""


class DyingModel:
    def complete(self, *args: object, **kwargs: object) -> None:
        raise WorkerKilled


def _delivery_dies(run: AgentRun) -> None:
    with pytest.raises(WorkerKilled):
        planner.plan_generation_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "running"


def test_a_generation_whose_worker_keeps_dying_fails_after_its_deliveries(
    project, django_capture_on_commit_callbacks, settings, monkeypatch
):
    settings.PLANNING_MAX_DELIVERIES = 2
    with django_capture_on_commit_callbacks():
        run = planner.plan_generation_start(project=project, requirements="- one")
    monkeypatch.setattr(planner, "get_llm_client", DyingModel)

    _delivery_dies(run)
    assert runs.stale_runs_recover(now=run.lease_expires_at - timedelta(seconds=1)) == 0
    with django_capture_on_commit_callbacks() as resent:
        runs.stale_runs_recover(now=run.lease_expires_at + timedelta(seconds=1))
    assert len(resent) == 1
    run.refresh_from_db()
    assert run.status == "queued"  # sent again, as when it was asked for

    _delivery_dies(run)
    with django_capture_on_commit_callbacks() as resent:
        runs.stale_runs_recover(now=run.lease_expires_at + timedelta(seconds=1))
    assert resent == []
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("plan generation: 2 deliveries ended without finishing it")
    # One cycle for both deliveries, closed with the reason.
    [cycle] = PlanningCycle.objects.filter(run=run, opened__isnull=True)
    assert cycle.closing.status == "abandoned"
    assert cycle.closing.outcomes == [run.error]
    # The project is free for a new generation.
    with django_capture_on_commit_callbacks():
        planner.plan_generation_start(project=project, requirements="- two")


def test_a_generation_in_progress_keeps_the_project_busy_until_then(
    project, django_capture_on_commit_callbacks, monkeypatch
):
    with django_capture_on_commit_callbacks():
        run = planner.plan_generation_start(project=project, requirements="- one")
    monkeypatch.setattr(planner, "get_llm_client", DyingModel)
    _delivery_dies(run)
    with pytest.raises(DomainError, match="already being generated"):
        planner.plan_generation_start(project=project, requirements="- two")


def test_the_planning_lease_is_a_setting(
    project, django_capture_on_commit_callbacks, settings, monkeypatch
):
    settings.PLANNING_LEASE_SECONDS = 90
    with django_capture_on_commit_callbacks():
        run = planner.plan_generation_start(project=project, requirements="- one")
    monkeypatch.setattr(planner, "get_llm_client", DyingModel)
    _delivery_dies(run)
    assert run.lease_expires_at - run.heartbeat_at == timedelta(seconds=90)
