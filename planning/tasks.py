"""Planning's Celery tasks: thin, each loads by id and calls one service."""

from celery import shared_task
from django.conf import settings

from planning.services import import_jobs


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.IMPORT_JOB_TIME_LIMIT_S,
    time_limit=settings.IMPORT_JOB_TIME_LIMIT_S + 30,
)
def import_plan_job(job_id: int) -> None:
    """Import a stored plan file (idempotent: a job that is not queued is skipped)."""
    import_jobs.import_job_execute(job_id=job_id)


@shared_task(acks_late=True)
def recover_stale_imports() -> None:
    """Periodic (celery beat): send again the import jobs whose message or worker was lost."""
    import_jobs.import_jobs_recover()
