from celery import shared_task

from planning.services.generation import plan_generation_execute


@shared_task(acks_late=True, reject_on_worker_lost=True)
def generate_plan(run_id: int) -> None:
    """Carry out a queued plan-generation run (idempotent: a finished run is skipped)."""
    plan_generation_execute(run_id=run_id)
