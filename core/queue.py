"""Enqueueing Celery tasks from services, once the transaction commits.

Tasks are named, not imported: a task module imports the services it calls, so a
service that enqueued by importing the task would close an import cycle. Each app
registers its tasks as it loads (its AppConfig imports its `tasks` module), so a name
resolves in every process, and a name nothing registers fails at once.

A message the broker does not take (it is down, or unreachable) is logged and dropped:
the transaction that asked for it has committed, so the request that made it must not
fail. Every such message is work that a periodic sweep finds and sends again (a queued
run, a run whose lease ran out, a project with work and idle agents).
"""

import logging
from typing import Any

from celery import Task, current_app
from django.db import transaction
from kombu import Connection, Producer
from kombu.exceptions import OperationalError
from kombu.transport.virtual import Transport as VirtualTransport

logger = logging.getLogger(__name__)


def enqueue_on_commit(task_name: str, *args: Any, queue: str | None = None) -> None:
    """Send `task_name` with `args` once the current transaction commits (at once
    outside one); `queue` picks the queue, by default the task's own. Raises
    celery.exceptions.NotRegistered for a task no app registers."""
    task = current_app.tasks[task_name]
    # Left out rather than None: None would override the queue the task names itself.
    options: dict[str, Any] = {} if queue is None else {"queue": queue}
    if all(type(arg) is int for arg in args):
        # What Celery's own safe repr would write for ids, without its cost (a good part
        # of a message's): an agent step sends its next step with every one.
        options.update(argsrepr=repr(args), kwargsrepr="{}")

    def send() -> None:
        try:
            _send(task, args, options)
        # kombu raises OperationalError for a broker it cannot reach, after its retries.
        except (OperationalError, OSError) as exc:
            logger.warning(
                "The broker did not take %s%r (%s: %s); a periodic sweep sends it again.",
                task_name,
                args,
                type(exc).__name__,
                exc,
            )

    transaction.on_commit(send)


def _send(task: Task[Any, Any], args: tuple[Any, ...], options: dict[str, Any]) -> None:
    """`task.apply_async(args=args, **options)`, the message the same to its last byte.

    Before each message kombu copies the queue it is sent to, binds the copy to the
    channel and hashes it, only to find in its connection's cache that the queue was
    declared already: a good part of the cost of a send (an agent step sends its
    next step with every one). When the queue is in the producer's cache, it is not
    handed over to be declared again; the check is kombu's own (`kombu.common.
    _maybe_declare`), and a connection that is made again starts with an empty cache.

    Only on kombu's virtual transports (Redis, the filesystem, memory), which deliver
    a message to a queue by its name whether or not this connection declared it: a
    message kombu sends again after reconnecting goes out with the `declare` it was
    given, and an AMQP broker that lost the queue meanwhile would drop it."""
    queue_name = options.get("queue")
    app = task.app
    entity = None if queue_name is None else app.amqp.queues.get(queue_name)
    if entity is None or app.conf.task_always_eager:
        task.apply_async(args=args, **options)
        return
    with app.producer_or_acquire() as producer:
        if _declared(producer, entity):
            options = {**options, "declare": []}
        task.apply_async(args=args, producer=producer, **options)


def _declared(producer: Producer, entity: Any) -> bool:
    """Whether kombu would skip declaring `entity` before a message the producer sends."""
    channel: Any = producer.channel  # a kombu Channel, which the stubs leave untyped
    connection = channel.connection
    if connection is None or not entity.can_cache_declaration:
        return False
    if not delivers_by_queue_name(connection.client):
        return False
    return hash(entity) in connection.client.declared_entities


def delivers_by_queue_name(connection: Connection) -> bool:
    """Whether the broker behind `connection` is one of kombu's virtual transports."""
    return isinstance(connection.transport, VirtualTransport)
