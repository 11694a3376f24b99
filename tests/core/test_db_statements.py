"""core.db helpers for hot statements: prepared cursors and instances from raw rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.db import instance_from_row, prepared_cursor
from planning.models import Task
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_a_prepared_cursor_runs_and_logs_its_statements() -> None:
    with CaptureQueriesContext(connection) as captured, prepared_cursor() as cursor:
        cursor.execute("SELECT %s + 1", [41])
        answer = cursor.fetchone()[0]

    assert answer == 42
    assert "41" in captured.captured_queries[-1]["sql"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares statements")
def test_postgresql_prepares_a_prepared_cursors_statements_once() -> None:
    sql = "SELECT COUNT(*) FROM planning_task WHERE key = %s"
    for key in ("a", "b"):
        with prepared_cursor() as cursor:
            cursor.execute(sql, [key])

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert prepared.count("SELECT COUNT(*) FROM planning_task WHERE key = $1") == 1


def test_an_instance_from_a_raw_row_equals_the_one_a_queryset_loads() -> None:
    task = TaskFactory(files=["a.py", "b.py"], extra={"n": 1}, started_at=timezone.now())
    fields = Task._meta.concrete_fields
    columns = ", ".join(f'"{field.column}"' for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT {columns} FROM "planning_task" WHERE "id" = %s', [task.pk])
        row = cursor.fetchone()

    built = instance_from_row(Task, fields, row)

    loaded = Task.objects.get(pk=task.pk)
    values = [getattr(built, field.attname) for field in fields]
    assert values == [getattr(loaded, field.attname) for field in fields]
    assert (built.files, built.extra, built._state.adding) == (["a.py", "b.py"], {"n": 1}, False)
