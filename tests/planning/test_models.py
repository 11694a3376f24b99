"""Invariants enforced by the database itself, not just by forms or services."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from planning.models import DevPlan, DevPlanVersion, Task, TaskDependency
from tests.factories import (
    FeatureFactory,
    MembershipFactory,
    ProjectFactory,
    RequirementFactory,
    SubFeatureFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "field,value",
    [
        ("status", "finished"),
        ("type", "checkpoint:maybe"),
        ("size", "huge"),
        ("priority", "urgent"),
        ("complexity", 0),
        ("complexity", 11),
        ("wave", 0),
    ],
)
def test_task_rejects_values_outside_its_domain(project, field, value):
    task = TaskFactory(project=project)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(**{field: value})


def test_task_qa_iterations_cannot_exceed_max(project):
    task = TaskFactory(project=project, max_iterations=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(qa_iterations=4)
    Task.objects.filter(pk=task.pk).update(qa_iterations=3)


def test_task_counters_cannot_go_negative(project):
    task = TaskFactory(project=project)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=task.pk).update(estimated_minutes=-1)


def test_task_key_unique_per_project_but_reusable_across_projects(project, other_project):
    TaskFactory(project=project, key="01-01-T1")
    TaskFactory(project=other_project, key="01-01-T1")
    with pytest.raises(IntegrityError), transaction.atomic():
        TaskFactory(project=project, key="01-01-T1")


def test_task_with_sub_feature_needs_a_feature(project):
    sub = SubFeatureFactory(project=project)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(project=project, key="X", name="x", sub_feature=sub, feature=None)


def test_task_dependency_rejects_self_edge_and_duplicates(project):
    a, b = TaskFactory(project=project), TaskFactory(project=project)
    with pytest.raises(IntegrityError), transaction.atomic():
        TaskDependency.objects.create(task=a, depends_on=a)
    TaskDependency.objects.create(task=a, depends_on=b)
    with pytest.raises(IntegrityError), transaction.atomic():
        TaskDependency.objects.create(task=a, depends_on=b)


def test_priority_rank_is_computed_by_the_database(project):
    ranks = {
        p: Task.objects.get(pk=TaskFactory(project=project, priority=p).pk).priority_rank
        for p in ("high", "medium", "low")
    }
    assert ranks == {"high": 0, "medium": 1, "low": 2}


def test_requirement_code_unique_per_project_when_set(project):
    RequirementFactory(project=project, code="DATA-01")
    RequirementFactory(project=project, code="")
    RequirementFactory(project=project, code="")
    with pytest.raises(IntegrityError), transaction.atomic():
        RequirementFactory(project=project, code="DATA-01")


def test_membership_unique_per_user(project):
    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(project=project, user=project.owner, role="viewer")


def test_membership_role_is_an_enum(project):
    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(project=project, role="admin")


def test_project_status_and_mode_are_enums(db):
    project = ProjectFactory()
    for field, value in (("status", "deleted"), ("mode", "chaos")):
        with pytest.raises(IntegrityError), transaction.atomic():
            type(project).objects.filter(pk=project.pk).update(**{field: value})


def test_feature_key_unique_per_project(project):
    FeatureFactory(project=project, key="01")
    with pytest.raises(IntegrityError), transaction.atomic():
        FeatureFactory(project=project, key="01")


def test_plan_version_number_unique_and_content_immutable(project):
    plan = DevPlan.objects.create(project=project)
    version = DevPlanVersion.objects.create(plan=plan, number=1, snapshot={"tasks": []})
    with pytest.raises(IntegrityError), transaction.atomic():
        DevPlanVersion.objects.create(plan=plan, number=1, snapshot={})
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {DevPlanVersion._meta.db_table} SET snapshot = %s WHERE id = %s",
            ['{"tasks": ["sneaky"]}', version.pk],
        )
    version.refresh_from_db()
    assert version.snapshot == {"tasks": []}


def test_plan_version_source_identities_are_immutable(project):
    plan = DevPlan.objects.create(project=project)
    kept = {"tasks": {"T1": "tasks.md#add-login"}}
    version = DevPlanVersion.objects.create(
        plan=plan, number=1, snapshot={"tasks": []}, source_identities=kept
    )
    with (
        pytest.raises(IntegrityError, match="immutable: UPDATE is not allowed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f"UPDATE {DevPlanVersion._meta.db_table} SET source_identities = %s WHERE id = %s",
            ['{"tasks": {"T1": "elsewhere.md#other"}}', version.pk],
        )
    version.refresh_from_db()
    assert version.source_identities == kept


# What a saved version may still change: nothing of its content, only who made it (whose
# account may be deleted, SET_NULL).
VERSION_BOOKKEEPING = ("id", "created_by")


@pytest.mark.parametrize(
    "column",
    [
        field.column
        for field in DevPlanVersion._meta.concrete_fields
        if field.name not in VERSION_BOOKKEEPING
    ],
)
def test_every_content_column_of_a_plan_version_rejects_update(project, column):
    # A column added to the model later is covered too, or this fails until it is.
    plan = DevPlan.objects.create(project=project)
    version = DevPlanVersion.objects.create(plan=plan, number=1, snapshot={"tasks": []})
    with (
        pytest.raises(IntegrityError, match="immutable: UPDATE is not allowed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        table = DevPlanVersion._meta.db_table
        cursor.execute(f"UPDATE {table} SET {column} = {column} WHERE id = %s", [version.pk])


def test_a_saved_version_is_never_deleted(project):
    plan = DevPlan.objects.create(project=project)
    version = DevPlanVersion.objects.create(plan=plan, number=1, snapshot={"tasks": []})
    with (
        pytest.raises(IntegrityError, match="append-only: DELETE is not allowed"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {DevPlanVersion._meta.db_table} WHERE id = %s", [version.pk])
    # Its plan and project are kept by it, as the audit log keeps its project.
    with pytest.raises(ProtectedError), transaction.atomic():
        plan.delete()
    with pytest.raises(ProtectedError), transaction.atomic():
        project.delete()
    assert DevPlanVersion.objects.filter(pk=version.pk).exists()
    DevPlan.objects.create(project=project, name="Unsaved")
    DevPlan.objects.get(name="Unsaved").delete()  # a plan without versions still goes
