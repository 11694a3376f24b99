import random

from celery import shared_task
from django.conf import settings

from agents.llm import LLMError
from agents.runtime import step_execute
from agents.services import orchestrator
from planning.models import Project


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def run_step(self, run_id: int, number: int) -> None:  # type: ignore[no-untyped-def]
    """One step of an agent run. Idempotent by (run, step); the model being unreachable is
    retried with backoff and jitter, then the run fails with the error."""
    try:
        step_execute(run_id=run_id, number=number)
    except LLMError as exc:
        if self.request.retries >= settings.AGENT_STEP_MAX_RETRIES:
            orchestrator.run_fail(run_id=run_id, error=f"step {number}: {exc}")
            return
        delay = min(60, 2**self.request.retries) + random.uniform(0, 1)
        raise self.retry(exc=exc, countdown=delay) from exc


@shared_task(acks_late=True)
def dispatch_project(project_id: int) -> None:
    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        orchestrator.dispatch(project=project)


@shared_task(acks_late=True)
def recover_stale_runs() -> None:
    """Periodic (celery beat): re-deliver steps of built-in runs whose worker died, and
    fence external agents whose lease ran out."""
    orchestrator.stale_runs_recover()
    try:
        from agents.services.external import stale_leases_expire
    except ImportError:  # pragma: no cover - shipped together
        return
    stale_leases_expire()
