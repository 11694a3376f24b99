import os
from typing import Any

from celery import Celery, Task, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("crewboard")
app.config_from_object("config.celery_settings:SETTINGS", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(*, task: Task[Any, Any] | None = None, **kwargs: object) -> None:
    """What Django does around each request: give a pooled connection back to the pool,
    and drop one that broke or outlived CONN_MAX_AGE. Eager tasks run inside their
    caller's transaction, so they are left alone."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@signals.celeryd_after_setup.connect
def _serve_host_queue(sender: str, instance: Any, **kwargs: object) -> None:
    """Every worker also serves its host's queue, where the runs whose worktrees are on
    this host's disk send their steps, CLI runs and checks."""
    from django.conf import settings

    if settings.WORKER_HOST_QUEUE:
        instance.app.amqp.queues.select_add(settings.WORKER_HOST_QUEUE)
