"""The migrated schema: every index earns its upkeep, on the database the suite runs on."""

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import CheckConstraint

OWN_APPS = ("core", "planning", "agents", "memory")


def _indexes(model) -> dict[str, dict]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {name: c for name, c in constraints.items() if c["index"] or c["unique"]}


def _covered_indexes() -> list[str]:
    """Plain indexes whose columns lead another index on the same table: every lookup
    they serve, the longer one serves too, and each write pays for both."""
    covered = []
    models = [model for label in OWN_APPS for model in apps.get_app_config(label).get_models()]
    for model in models:
        indexes = _indexes(model)
        # A partial index serves only queries that repeat its condition.
        partial = {
            item.name
            for item in [*model._meta.indexes, *model._meta.constraints]
            if getattr(item, "condition", None) is not None
            and not isinstance(item, CheckConstraint)
        }
        for name, index in indexes.items():
            # A partial one holds only the rows of its condition: smaller than the wider
            # index, it earns its keep by what it leaves out.
            if index["unique"] or index["primary_key"] or name in partial:
                continue
            columns = index["columns"]
            for other, wider in indexes.items():
                leads = wider["columns"][: len(columns)] == columns
                wider_serves = other not in partial and len(wider["columns"]) > len(columns)
                if other != name and wider_serves and leads:
                    covered.append(f"{model._meta.label}.{name} (in {other})")
                    break
    return covered


@pytest.mark.django_db
def test_no_index_is_the_leading_part_of_another():
    assert _covered_indexes() == []


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's pattern indexes")
def test_no_like_pattern_indexes_on_columns_compared_only_for_equality():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND indexdef LIKE '%%pattern_ops%%' AND tablename LIKE ANY(%s)",
            [[f"{app}\\_%" for app in OWN_APPS]],
        )
        assert [row[0] for row in cursor.fetchall()] == []
