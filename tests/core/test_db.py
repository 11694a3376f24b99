"""core.db helpers, on the database the suite runs on."""

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError

from core.db import commit_without_flush_wait
from tests.hang import HANG_S


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # real commits
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
def test_only_the_transaction_that_asks_commits_without_waiting_for_the_disk():
    before = synchronous_commit()
    with transaction.atomic(durable=True):
        commit_without_flush_wait()
        assert synchronous_commit() == "off"
    assert synchronous_commit() == before == "on"


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor == "postgresql", reason="for other databases")
def test_elsewhere_it_changes_nothing(django_assert_num_queries):
    with transaction.atomic(durable=True), django_assert_num_queries(0):
        commit_without_flush_wait()


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_run_in_autocommit():
    """A real autocommit connection: no test transaction around it."""
    assert connection.get_autocommit() and not connection.atomic_blocks
    with pytest.raises(TransactionManagementError, match="durable=True"):
        commit_without_flush_wait()


@pytest.mark.django_db
def test_it_refuses_to_run_outside_an_outermost_transaction():
    refused = pytest.raises(TransactionManagementError, match="durable=True")
    with transaction.atomic(durable=True), transaction.atomic(), refused:
        commit_without_flush_wait()  # an inner block
    with transaction.atomic(), refused:
        commit_without_flush_wait()  # a block that may be nested


@pytest.mark.django_db
def test_insert_rows_inserts_in_one_statement_as_save_would(django_assert_num_queries):
    from agents.models import AgentRun, Metric
    from core.db import insert_rows
    from tests.factories import AgentRunFactory

    run = AgentRunFactory()
    metrics = [
        Metric(project=run.project, run=run, type="latency", value=n, metadata={"n": n})
        for n in range(3)
    ]
    with django_assert_num_queries(1):
        insert_rows(metrics)

    stored = {m.pk: (m.value, m.metadata) for m in Metric.objects.filter(run=run)}
    assert stored == {m.pk: (float(n), {"n": n}) for n, m in enumerate(metrics)}
    assert all(not m._state.adding for m in metrics)
    # auto_now and auto_now_add fields get their values, as Model.save gives them
    queued = AgentRun(project=run.project, agent=run.agent, idempotency_key="k-1")
    insert_rows([queued])
    assert AgentRun.objects.get(pk=queued.pk).created_at == queued.created_at is not None


@pytest.mark.django_db
def test_insert_rows_saves_the_usual_way_for_a_model_with_save_receivers():
    from django.db.models.signals import post_save

    from agents.models import Metric
    from core.db import insert_rows
    from tests.factories import ProjectFactory

    seen = []

    def receiver(sender, instance, created, **kwargs):
        seen.append((instance.pk, created))

    post_save.connect(receiver, sender=Metric)
    try:
        metric = Metric(project=ProjectFactory(), type="latency", value=1)
        insert_rows([metric])
    finally:
        post_save.disconnect(receiver, sender=Metric)
    assert seen == [(metric.pk, True)]


@pytest.mark.django_db
def test_insert_rows_leaves_generated_columns_to_the_database():
    from core.db import insert_rows
    from planning.models import Task
    from tests.factories import ProjectFactory

    task = Task(project=ProjectFactory(), key="T1", name="Parse", priority="high")
    insert_rows([task])

    # Naming the generated column in the INSERT would be an error on either database.
    assert Task.objects.get(pk=task.pk).priority_rank is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL pool")
def test_the_pool_replaces_connections_the_server_closed():
    """A worker keeps its pooled connections across tasks; after a server restart (here:
    every backend of the database terminated) the next task gets a live one."""
    import time

    import psycopg

    # A worker process's pool, which holds the one connection its task used: not one that
    # earlier tests grew by using it from several threads (psycopg_pool backs off a
    # second longer at each dead connection it finds, so five dead ones outlast the
    # 10 s timeout).
    connection.close_pool()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close()  # back to the pool, as at the end of a task
    others = (
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        for (pid,) in admin.execute(others).fetchall():
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + HANG_S
        while admin.execute(others).fetchone() and time.monotonic() < deadline:
            time.sleep(0.05)

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
