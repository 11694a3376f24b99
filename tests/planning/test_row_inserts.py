"""Inserting an import's rows as plain rows, without model instances."""

from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone as django_timezone

from planning.models import Feature, Task
from planning.row_inserts import rows_insert

pytestmark = pytest.mark.django_db


def _columns(task) -> dict:
    ignored = {"id", "created_at", "updated_at"}
    return {
        f.attname: getattr(task, f.attname)
        for f in Task._meta.concrete_fields
        if f.attname not in ignored
    }


def test_rows_insert_gives_a_row_what_an_instance_would_have(project) -> None:
    """Fields a row leaves out take their defaults, JSON goes in as JSON, and the
    timestamps are set, as with Task.objects.create."""
    feature = Feature.objects.create(project=project, key="F", name="F")
    made = Task.objects.create(
        project=project, feature=feature, key="T1", name="One", files=["a.py"], extra={"k": 1}
    )
    inserted = rows_insert(
        Task,
        [
            {
                "project_id": project.pk,
                "feature_id": feature.pk,
                "key": "T2",
                "sort_key": made.sort_key.replace("1", "2"),
                "name": "One",
                "files": ["a.py"],
                "extra": {"k": 1},
            }
        ],
    )
    assert inserted == 1
    row = Task.objects.get(key="T2")
    assert _columns(row) | {"key": "T1", "sort_key": made.sort_key} == _columns(made)
    assert row.created_at is not None and row.updated_at == row.created_at


def test_rows_insert_refuses_what_a_constraint_refuses_and_writes_nothing(project) -> None:
    rows = [
        {"project_id": project.pk, "key": "T1", "name": "One"},
        {"project_id": project.pk, "key": "T1", "name": "Again"},
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert(Task, rows)
    assert not Task.objects.exists()


def test_rows_insert_changes_only_planning_tables() -> None:
    with pytest.raises(TypeError, match="not one of planning's tables"):
        rows_insert(User, [{"username": "x"}])


def test_timestamps_are_stored_as_the_instants_given(project) -> None:
    """Written as text on PostgreSQL: the same instant, to the microsecond, in any zone."""
    given = datetime(2025, 3, 30, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-7)))
    before = django_timezone.now()
    rows_insert(
        Task, [{"project_id": project.pk, "key": "T1", "name": "One", "completed_at": given}]
    )
    row = Task.objects.get(key="T1")
    assert row.completed_at == given
    assert before <= row.created_at == row.updated_at <= django_timezone.now()
