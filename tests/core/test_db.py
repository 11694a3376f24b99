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
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL defers the checks")
def test_references_are_checked_when_asked_not_at_the_commit():
    from django.db import IntegrityError

    from core.db import references_checked_now
    from planning.models import Task
    from tests.factories import ProjectFactory

    project = ProjectFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(project=project, key="T1", name="Orphan", feature_id=2**40)
        references_checked_now()  # not the commit: the block is still open here
    assert not Task.objects.filter(project=project).exists()
    # Later statements are deferred again: a parent written after its child is fine.
    with transaction.atomic():
        references_checked_now()
        child = Task.objects.create(project=project, key="T2", name="Child", parent_id=2**40)
        Task.objects.filter(pk=child.pk).update(parent=None)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's catalog")
def test_every_deferrable_constraint_starts_deferred():
    """references_checked_now sets every deferrable constraint DEFERRED once it has
    checked them: right only while none starts IMMEDIATE."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "JOIN pg_namespace ON pg_namespace.oid = connamespace "
            "WHERE nspname = 'public' AND condeferrable AND NOT condeferred"
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT count(*) FROM pg_constraint JOIN pg_namespace "
            "ON pg_namespace.oid = connamespace WHERE nspname = 'public' AND condeferred"
        )
        assert cursor.fetchone()[0] > 0  # the foreign keys


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor == "postgresql", reason="for other databases")
def test_elsewhere_references_wait_for_the_commit(django_assert_num_queries):
    from core.db import references_checked_now

    with django_assert_num_queries(0):
        references_checked_now()


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
