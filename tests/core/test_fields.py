"""DocumentJSONField: JSON kept as its text, read back as it was written."""

import pytest
from django.db import connection

from core.inserts import insert_rows
from planning.models import DevPlan, DevPlanVersion

pytestmark = pytest.mark.django_db

VALUES = [
    # Keys in an order `jsonb` would change (it sorts them, shortest first).
    {"tasks": [], "zebra": {"long key": 1, "a": [1, "é", None, True, 2.5]}},
    # A string that reads as JSON itself must not be decoded a second time.
    '{"looks": "like an object"}',
    [3, "three", {"b": 2, "a": 1}],
    0,
]


@pytest.mark.parametrize("value", VALUES)
def test_a_document_reads_back_as_it_was_written(project, value):
    plan = DevPlan.objects.create(project=project)
    version = DevPlanVersion.objects.create(plan=plan, number=1, snapshot=value)

    stored = DevPlanVersion.objects.get(pk=version.pk).snapshot

    assert stored == value
    assert type(stored) is type(value)
    if isinstance(value, dict):
        assert list(stored) == list(value)
        assert list(stored["zebra"]) == list(value["zebra"])
    assert DevPlanVersion.objects.values_list("snapshot", flat=True).get(pk=version.pk) == value


def test_text_encoded_ahead_is_stored_as_it_was_sent(project):
    plan = DevPlan.objects.create(project=project)
    version = DevPlanVersion(plan=plan, number=1, snapshot={"ignored": True})
    text = '{"tasks": [{"name": "\\u00e9"}], "features": []}'

    insert_rows([version], encoded_json={"snapshot": text})

    stored = DevPlanVersion.objects.get(pk=version.pk).snapshot
    assert stored == {"tasks": [{"name": "é"}], "features": []}
    assert list(stored) == ["tasks", "features"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT snapshot::text FROM {DevPlanVersion._meta.db_table} WHERE id = %s",
                [version.pk],
            )
            assert cursor.fetchone() == (text,)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite keeps all JSON as text")
def test_postgresql_keeps_a_document_as_json_not_jsonb():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = 'snapshot'",
            [DevPlanVersion._meta.db_table],
        )
        assert cursor.fetchone() == ("json",)


def test_a_documents_keys_can_still_be_read(project):
    plan = DevPlan.objects.create(project=project)
    DevPlanVersion.objects.create(plan=plan, number=1, snapshot={"tasks": [{"key": "T1"}]})

    assert list(DevPlanVersion.objects.values_list("snapshot__tasks", flat=True)) == [
        [{"key": "T1"}]
    ]


def test_a_document_field_takes_no_decoder():
    import json

    from core.fields import DocumentJSONField

    with pytest.raises(ValueError, match="cannot take a decoder"):
        DocumentJSONField(decoder=json.JSONDecoder)
