"""core.api.representation renders exactly what the serializer's to_representation does,
whatever the fields, the values and the current time zone."""

import datetime
from collections import UserDict
from typing import Any

import pytest
from django.utils import timezone
from rest_framework import serializers

from agents.api.serializers import AgentRunSerializer
from core.api.representation import representation
from planning.api.serializers import TaskSerializer
from tests.factories import (
    AgentRunFactory,
    SubFeatureFactory,
    TaskDependencyFactory,
    TaskFactory,
)

UTC = datetime.UTC
PLUS_ONE = datetime.timezone(datetime.timedelta(hours=1))
MINUS_FIVE = datetime.timezone(datetime.timedelta(hours=-5))
AT = datetime.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


class Thing:
    """An object as DRF reads them: attributes, a method, a property that raises."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def shout(self) -> str:
        return "HEY"


class Inner(serializers.Serializer[Any]):
    label = serializers.CharField()
    size = serializers.IntegerField(required=False)


class Everything(serializers.Serializer[Any]):
    text = serializers.CharField()
    number = serializers.IntegerField()
    big = serializers.BigIntegerField()
    big_text = serializers.BigIntegerField(coerce_to_string=True, source="big")
    ratio = serializers.FloatField()
    flag = serializers.BooleanField()
    choice = serializers.ChoiceField(choices=[("a", "A"), (1, "One")])
    blob = serializers.JSONField()
    binary_blob = serializers.JSONField(binary=True)
    when = serializers.DateTimeField()
    raw_when = serializers.DateTimeField(format=None)
    day_when = serializers.DateTimeField(format="%Y-%m-%d")
    paris_when = serializers.DateTimeField(default_timezone=PLUS_ONE)
    nested = Inner(allow_null=True)
    many = Inner(many=True)
    dotted = serializers.CharField(source="blob.name", required=False)
    called = serializers.CharField(source="shout")
    whole = serializers.SerializerMethodField()
    optional = serializers.CharField(required=False)
    defaulted = serializers.CharField(default="fallback")
    nullable = serializers.CharField(allow_null=True)

    def get_whole(self, obj: Any) -> str:
        return type(obj).__name__


def _values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "text": 12,
        "number": "7",
        "big": 2**40,
        "ratio": 3,
        "flag": "yes",
        "choice": 1,
        "blob": {"name": "n", "list": [1, 2]},
        "binary_blob": {"b": 1},
        "when": AT,
        "raw_when": AT,
        "day_when": AT,
        "paris_when": AT,
        "nested": Thing(label="x", size=2),
        "many": [Thing(label="y", size=1), {"label": "z"}],
        "optional": "here",
        "defaulted": "set",
        "nullable": None,
    }
    values.update(overrides)
    return values


def assert_same(serializer: serializers.BaseSerializer[Any], instance: Any) -> None:
    assert representation(serializer)(instance) == serializer.to_representation(instance)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"nested": None, "many": [], "when": None, "choice": "a", "flag": 0},
        {"when": datetime.datetime(2026, 3, 1, 12, 30)},  # naive
        {"when": "2026-03-01T12:30:00Z", "ratio": 0.5, "text": ""},
        {"when": datetime.datetime(2026, 7, 1, 9, tzinfo=MINUS_FIVE)},
    ],
)
def test_an_object_renders_as_its_serializer_does(overrides):
    thing = Thing(**_values(**overrides))
    del thing.optional, thing.defaulted  # left out, and given their default

    assert_same(Everything(), thing)
    assert_same(Everything(), Thing(**_values(**overrides)))


def test_a_dict_and_any_other_mapping_render_as_their_serializer_does():
    values = _values()
    values["shout"] = "from a key"
    values.pop("optional")

    assert_same(Everything(), values)
    assert_same(Everything(), UserDict(values))


def test_dates_and_times_follow_the_current_time_zone():
    thing = Thing(**_values())
    with timezone.override("Asia/Kolkata"):
        rendered = representation(Everything())(thing)
        assert rendered == Everything().to_representation(thing)
    assert rendered["when"] == "2026-03-01T18:00:15.123456+05:30"
    assert representation(Everything())(thing)["when"] == "2026-03-01T12:30:15.123456Z"


def test_a_missing_attribute_fails_as_its_serializer_does():
    thing = Thing(**_values())
    del thing.text

    with pytest.raises(AttributeError) as ours:
        representation(Everything())(thing)
    with pytest.raises(AttributeError) as drf:
        Everything().to_representation(thing)
    assert str(ours.value) == str(drf.value)


@pytest.mark.django_db
def test_model_serializers_render_rows_as_they_do(project):
    plan = SubFeatureFactory(project=project)
    parent = TaskFactory(project=project, key="P")
    task = TaskFactory(
        project=project,
        key="T",
        feature=plan.feature,
        sub_feature=plan,
        parent=parent,
        files=["a.py"],
        complexity=4,
        started_at=AT,
    )
    TaskDependencyFactory(task=task, depends_on=parent)
    run = AgentRunFactory(agent__project=project, task=task, payload={"k": [1]}, heartbeat_at=AT)
    bare = TaskFactory(project=project, key="B")

    for serializer, rows in (
        (TaskSerializer(), [task, bare]),
        (AgentRunSerializer(), [run, AgentRunFactory(agent__project=project)]),
        (TaskSerializer(many=True), [[task, bare]]),
    ):
        for row in rows:
            assert_same(serializer, row)


@pytest.mark.django_db
def test_a_related_row_that_is_gone_renders_as_its_serializer_does(project):
    task = TaskFactory(project=project, key="T", parent=TaskFactory(project=project, key="P"))
    task.parent_id = 10**9  # points nowhere: DRF reads it as None

    assert_same(TaskSerializer(), task)
    assert representation(TaskSerializer())(task)["parent"] is None
