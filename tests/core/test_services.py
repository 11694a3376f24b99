import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.utils import timezone

from agents.models import AgentState, Checkpoint
from core.errors import DomainError
from core.services import model_update
from planning.models import Feature, Task
from planning.services import feature_create
from tests.factories import AgentStateFactory, CheckpointFactory, FeatureFactory, TaskFactory
from tests.hang import HANG_S

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


# Concurrent creates -------------------------------------------------------------------


def test_a_create_whose_key_is_taken_is_a_validation_error_and_writes_nothing(project) -> None:
    FeatureFactory(project=project, key="F1")

    with pytest.raises(ValidationError, match="already exists"):
        model_update(instance=Feature(project=project, key="F1", name="again"), data={}, allowed=())

    assert Feature.objects.filter(project=project, key="F1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_creates_of_one_key_give_one_row_and_one_validation_error(
    project,
) -> None:
    """The second insert waits for the first transaction, which the check could not see,
    and fails once it commits: that request gets the same 400 a later one would."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: the second create sees the first row")
    first_inserted, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                feature_create(project=project, key="F1", name="first")
                first_inserted.set()
                release.wait(timeout=HANG_S)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            feature_create(project=project, key="F1", name="second")
            outcome["second"] = "created"
        except Exception as exc:  # the outcome under test
            outcome["second"] = exc
        finally:
            connections.close_all()

    holder = threading.Thread(target=first)
    holder.start()
    assert first_inserted.wait(timeout=HANG_S)
    racer = threading.Thread(target=second)
    racer.start()
    try:
        # The second insert now waits on the first transaction's row lock.
        for _ in range(int(HANG_S / 0.05)):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'"
                )
                if cursor.fetchone()[0]:
                    break
            racer.join(timeout=0.05)
        else:
            pytest.fail("the second create never waited for the first")
    finally:
        release.set()
        holder.join(timeout=HANG_S)
        racer.join(timeout=HANG_S)

    assert isinstance(outcome["second"], ValidationError), outcome["second"]
    assert "already exists" in str(outcome["second"])
    assert list(Feature.objects.filter(project=project).values_list("name", flat=True)) == ["first"]
