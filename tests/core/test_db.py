"""core.db helpers, on the database the suite runs on."""

import pytest
from django.db import connection, transaction

from core.db import commit_without_flush_wait


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # real commits
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
def test_only_the_transaction_that_asks_commits_without_waiting_for_the_disk():
    before = synchronous_commit()
    with transaction.atomic():
        commit_without_flush_wait()
        assert synchronous_commit() == "off"
    assert synchronous_commit() == before == "on"


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor == "postgresql", reason="for other databases")
def test_elsewhere_it_changes_nothing(django_assert_num_queries):
    with transaction.atomic(), django_assert_num_queries(0):
        commit_without_flush_wait()
