from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from agents.models import AgentState, Checkpoint
from core.errors import DomainError
from core.services import model_update
from planning.models import Feature, Task
from tests.factories import AgentStateFactory, CheckpointFactory, FeatureFactory, TaskFactory

pytestmark = pytest.mark.django_db

FEATURE_FIELDS = ("name", "description", "priority")


def _age(instance) -> None:
    """Move the row's updated_at an hour back, so a write that stamps it shows."""
    type(instance).objects.filter(pk=instance.pk).update(
        updated_at=timezone.now() - timedelta(hours=1)
    )
    instance.refresh_from_db()


def test_only_the_changed_fields_and_updated_at_are_written(project) -> None:
    feature = FeatureFactory(project=project, name="Login", description="old")
    _age(feature)
    before = feature.updated_at
    # Someone else changes the description meanwhile; our stale copy must not undo it.
    Feature.objects.filter(pk=feature.pk).update(description="theirs")

    _, changed = model_update(
        instance=feature, data={"name": "Sign-in", "description": "old"}, allowed=FEATURE_FIELDS
    )

    assert changed == ["name"]
    feature.refresh_from_db()
    assert feature.name == "Sign-in"
    assert feature.description == "theirs"
    assert feature.updated_at > before


def test_nothing_is_written_when_nothing_changed(project, django_assert_num_queries) -> None:
    feature = FeatureFactory(project=project, name="Login")

    with django_assert_num_queries(0):
        instance, changed = model_update(
            instance=feature, data={"name": "Login"}, allowed=FEATURE_FIELDS
        )

    assert instance is feature
    assert changed == []


def test_a_field_that_may_not_change_is_a_domain_error_naming_it(project) -> None:
    feature = FeatureFactory(project=project, name="Login")

    with pytest.raises(DomainError) as exc:
        model_update(instance=feature, data={"name": "X", "key": "F9"}, allowed=FEATURE_FIELDS)

    assert exc.value.field == "key"
    assert exc.value.message == "'key' cannot be changed here."
    feature.refresh_from_db()
    assert feature.name == "Login"


def test_an_invalid_value_is_a_validation_error_and_writes_nothing(project) -> None:
    feature = FeatureFactory(project=project, name="Login")

    with pytest.raises(ValidationError) as exc:
        model_update(instance=feature, data={"priority": "urgent"}, allowed=FEATURE_FIELDS)

    assert "priority" in exc.value.message_dict
    feature.refresh_from_db()
    assert feature.priority != "urgent"


def test_true_replaces_1_in_a_json_value(project) -> None:
    # 1 == True in Python, but a JSON reader tells them apart.
    entry = AgentStateFactory(project=project, value=1)

    _, changed = model_update(instance=entry, data={"value": True}, allowed=("value",))

    assert changed == ["value"]
    assert AgentState.objects.get(pk=entry.pk).value is True


def test_a_choice_given_as_its_enum_member_is_no_change(project) -> None:
    task = Task.objects.get(pk=TaskFactory(project=project, status="pending").pk)

    _, changed = model_update(
        instance=task, data={"status": Task.Status.PENDING}, allowed=("status",)
    )

    assert changed == []


def test_a_model_without_updated_at_writes_only_the_changed_fields(project) -> None:
    checkpoint = CheckpointFactory(project=project, name="before", reason="r")

    _, changed = model_update(instance=checkpoint, data={"name": "after"}, allowed=("name",))

    assert changed == ["name"]
    assert Checkpoint.objects.get(pk=checkpoint.pk).name == "after"


def test_derived_fields_are_validated_and_written_with_the_change(project) -> None:
    task = TaskFactory(project=project, status="pending")

    def derive(changed: list[str]) -> list[str]:
        if "status" in changed:
            task.started_at = timezone.now()
            changed.append("started_at")
        return changed

    _, changed = model_update(
        instance=task, data={"status": "in_progress"}, allowed=("status",), derive=derive
    )

    assert changed == ["status", "started_at"]
    task.refresh_from_db()
    assert task.status == "in_progress"
    assert task.started_at is not None


def test_an_unsaved_instance_is_validated_and_inserted(project) -> None:
    feature = Feature(project=project, key="F1", name="Login")

    model_update(instance=feature, data={"description": "d"}, allowed=FEATURE_FIELDS)

    assert Feature.objects.get(pk=feature.pk).description == "d"
    with pytest.raises(ValidationError):
        model_update(instance=Feature(project=project, key="F2"), data={}, allowed=())
    assert not Feature.objects.filter(key="F2").exists()
