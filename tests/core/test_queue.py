"""Services enqueue Celery tasks by name, once their transaction commits."""

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
