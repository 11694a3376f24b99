"""Services enqueue Celery tasks by name, once their transaction commits."""

from queue import Empty
from typing import Any

import pytest
from celery.exceptions import NotRegistered
from django.db import transaction

from config.celery import app as celery_app
from core.queue import enqueue_on_commit

received: list[tuple] = []


@celery_app.task(name="tests.core.remember")
def remember(*args: object) -> None:
    received.append(args)


@pytest.fixture
def eager():
    received.clear()
    was = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield received
    celery_app.conf.task_always_eager = was


@pytest.mark.django_db(transaction=True)
def test_a_task_is_sent_with_its_arguments_only_once_the_transaction_commits(eager):
    with transaction.atomic():
        enqueue_on_commit("tests.core.remember", 7, "x")
        assert eager == []
    assert eager == [(7, "x")]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_sends_nothing(eager):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit("tests.core.remember", 1)
        raise RuntimeError("the service failed")
    assert eager == []


def test_a_name_no_app_registers_fails_at_once():
    with pytest.raises(NotRegistered):
        enqueue_on_commit("agents.tasks.no_such_task", 1)


def test_the_tasks_services_name_are_registered_in_every_process():
    from agents.services import runs

    for name in (runs.RUN_STEP_TASK, runs.DISPATCH_TASK, runs.GENERATE_PLAN_TASK):
        assert name in celery_app.tasks


@pytest.mark.django_db(transaction=True)
def test_a_message_shows_its_arguments_as_celery_would():
    from celery.signals import before_task_publish
    from celery.utils.saferepr import saferepr

    shown: list[tuple[str, str]] = []

    def capture(headers: dict, **kwargs: object) -> None:
        shown.append((headers["argsrepr"], headers["kwargsrepr"]))

    before_task_publish.connect(capture)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(celery_app.conf, "broker_url", "memory://")
            patch.setitem(celery_app.conf, "broker_transport", None)
            patch.setattr(celery_app, "_pool", None)
            patch.setattr(celery_app.amqp, "_producer_pool", None)
            for args in [(7,), (7, 12), (7, "x")]:
                enqueue_on_commit("tests.core.remember", *args, queue="tests-core-shown")
    finally:
        before_task_publish.disconnect(capture)
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    expected = [(saferepr(args, 1024, maxlevels=3), "{}") for args in [(7,), (7, 12), (7, "x")]]
    assert shown == expected


@pytest.fixture
def memory_broker():
    """Celery's producers and connections on an in-memory broker, for this test only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(celery_app.conf, "broker_url", "memory://")
        patch.setitem(celery_app.conf, "broker_transport", None)
        patch.setattr(celery_app, "_pool", None)
        patch.setattr(celery_app.amqp, "_producer_pool", None)
        try:
            yield
        finally:
            celery_app._pool = None
            celery_app.amqp._producer_pool = None


def _received(queue: str) -> list[Any]:
    """The messages waiting in `queue`, taken off it."""
    messages = []
    with celery_app.connection_for_read() as connection:
        waiting = connection.SimpleQueue(queue)
        while True:
            try:
                messages.append(waiting.get(timeout=0.2))
            except Empty:
                break
        for message in messages:
            message.ack()
        waiting.close()
    return messages


def _without_ids(message: Any) -> dict[str, Any]:
    """A message's every field but those Celery makes unique to each message."""
    headers = {k: v for k, v in message.headers.items() if k not in ("id", "root_id")}
    properties = {
        k: v for k, v in message.properties.items() if k not in ("correlation_id", "delivery_tag")
    }
    return {
        "headers": headers,
        "properties": properties,
        "body": message.decode(),
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
        "delivery_info": {
            k: v for k, v in message.delivery_info.items() if k not in ("delivery_tag",)
        },
    }


@pytest.mark.django_db(transaction=True)
def test_a_message_is_what_celerys_own_apply_async_sends(memory_broker):
    queue = "tests-core-same-message"
    # The first send declares the queue; the second finds it declared, and skips that.
    enqueue_on_commit("tests.core.remember", 7, 12, queue=queue)
    enqueue_on_commit("tests.core.remember", 7, 12, queue=queue)
    remember.apply_async(args=(7, 12), queue=queue, argsrepr="(7, 12)", kwargsrepr="{}")
    first, second, celerys = _received(queue)

    assert _without_ids(first) == _without_ids(celerys)
    assert _without_ids(second) == _without_ids(celerys)
    for message in (first, second, celerys):
        assert message.headers["id"] == message.headers["root_id"]
        assert message.properties["correlation_id"] == message.headers["id"]
    assert len({m.headers["id"] for m in (first, second, celerys)}) == 3
    assert celerys.headers["task"] == "tests.core.remember"
    assert celerys.decode()[0] == [7, 12]


@pytest.mark.django_db(transaction=True)
def test_a_queue_is_declared_once_on_each_connection_it_is_sent_on(memory_broker, monkeypatch):
    from kombu import Queue

    declared: list[str] = []
    declare = Queue.declare

    def counted(self: Queue, *args: Any, **kwargs: Any) -> Any:
        declared.append(self.name)
        return declare(self, *args, **kwargs)

    monkeypatch.setattr(Queue, "declare", counted)
    queue = "tests-core-declared-once"
    enqueue_on_commit("tests.core.remember", 1, queue=queue)
    enqueue_on_commit("tests.core.remember", 2, queue=queue)
    assert declared == [queue]

    # A connection made again forgets what it declared (kombu clears it): declared anew.
    with celery_app.producer_or_acquire() as producer:
        producer.connection.declared_entities.clear()
    enqueue_on_commit("tests.core.remember", 3, queue=queue)
    assert declared == [queue, queue]
    assert [m.decode()[0] for m in _received(queue)] == [[1], [2], [3]]


@pytest.mark.parametrize(
    ("url", "by_name"),
    [
        ("redis://127.0.0.1:6379/0", True),
        ("filesystem://", True),
        ("memory://", True),
        ("amqp://guest@127.0.0.1:5672//", False),
    ],
)
def test_only_brokers_that_deliver_by_queue_name_skip_declaring(url, by_name):
    # Made, not connected: the transport is known from the URL alone.
    from kombu import Connection

    from core.queue import delivers_by_queue_name

    assert delivers_by_queue_name(Connection(url)) is by_name
