"""Enqueueing Celery tasks from services, once the transaction commits.

Tasks are named, not imported: a task module imports the services it calls, so a
service that enqueued by importing the task would close an import cycle. Each app
registers its tasks as it loads (its AppConfig imports its `tasks` module), so a name
resolves in every process, and a name nothing registers fails at once.
"""

from typing import Any

from celery import current_app
from django.db import transaction


def enqueue_on_commit(task_name: str, *args: Any, queue: str | None = None) -> None:
    """Send `task_name` with `args` once the current transaction commits (at once
    outside one); `queue` picks the queue, by default the task's own. Raises
    celery.exceptions.NotRegistered for a task no app registers."""
    task = current_app.tasks[task_name]
    # Left out rather than None: None would override the queue the task names itself.
    options: dict[str, Any] = {} if queue is None else {"queue": queue}
    transaction.on_commit(lambda: task.apply_async(args=args, **options))
