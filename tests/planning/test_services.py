import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from core.errors import ConflictError, DomainError
from planning import services
from planning.models import Project, ProjectMembership, Task, TaskDependency
from planning.services import PlanError
from tests.factories import (
    AgentFactory,
    FeatureFactory,
    SubFeatureFactory,
    TaskFactory,
    UserFactory,
)
from tests.hang import HANG_S

pytestmark = pytest.mark.django_db


def test_project_create_makes_owner_a_member_and_slugs_the_name(user):
    project = services.project_create(owner=user, name="Agent Fleet")
    assert project.slug == "agent-fleet"
    assert ProjectMembership.objects.get(project=project, user=user).role == "owner"
    second = services.project_create(owner=user, name="Agent Fleet")
    assert second.slug == "agent-fleet-2"


def test_non_latin_names_get_readable_distinct_slugs(user):
    russian = services.project_create(owner=user, name="Проект Альфа")
    japanese = services.project_create(owner=user, name="プロジェクト")
    again = services.project_create(owner=user, name="Проект Альфа")
    assert russian.slug == "proekt-alfa"
    assert japanese.slug == "purojiekuto"
    assert again.slug == "proekt-alfa-2"
    assert services.project_create(owner=user, name="*** ").slug == "project"


def test_project_create_with_bad_field_writes_nothing(user):
    with pytest.raises(ValidationError):
        services.project_create(owner=user, name="X", mode="chaos")
    assert not Project.objects.exists()
    assert not ProjectMembership.objects.exists()


def test_project_completion_is_stamped_and_cleared(project):
    services.project_update(project=project, data={"status": "completed"})
    assert project.completed_at is not None
    services.project_update(project=project, data={"status": "active"})
    project.refresh_from_db()
    assert project.completed_at is None


def test_last_owner_cannot_leave_or_be_demoted(project):
    owner_membership = project.memberships.get(user=project.owner)
    with pytest.raises(ConflictError):
        services.membership_remove(membership=owner_membership)
    with pytest.raises(ConflictError):
        services.membership_set(project=project, user=project.owner, role="viewer")
    services.membership_set(project=project, user=UserFactory(), role="owner")
    services.membership_set(project=project, user=project.owner, role="viewer")
    owner_membership.refresh_from_db()
    assert owner_membership.role == "viewer"


def test_dependency_cycle_is_rejected_with_its_path(project):
    a, b, c = (TaskFactory(project=project, key=k) for k in ("A", "B", "C"))
    services.task_add_dependency(task=a, depends_on=b)
    services.task_add_dependency(task=b, depends_on=c)
    with pytest.raises(PlanError) as excinfo:
        services.task_add_dependency(task=c, depends_on=a)
    assert "C -> A -> B -> C" in str(excinfo.value)
    assert TaskDependency.objects.count() == 2


def test_dependency_on_itself_duplicate_and_other_project_are_rejected(project, other_project):
    a, b = TaskFactory(project=project), TaskFactory(project=project)
    foreign = TaskFactory(project=other_project)
    with pytest.raises(PlanError):
        services.task_add_dependency(task=a, depends_on=a)
    with pytest.raises(PlanError):
        services.task_add_dependency(task=a, depends_on=foreign)
    services.task_add_dependency(task=a, depends_on=b)
    with pytest.raises(ConflictError):
        services.task_add_dependency(task=a, depends_on=b)


def test_task_in_sub_feature_takes_its_feature_and_wave(project):
    sub = SubFeatureFactory(feature=FeatureFactory(project=project), wave=3)
    task = services.task_create(project=project, key="01-01-T1", name="t", sub_feature=sub)
    assert task.feature_id == sub.feature_id
    assert task.wave == 3
    services.sub_feature_update(sub_feature=sub, data={"wave": 4})
    task.refresh_from_db()
    assert task.wave == 4


def test_task_cannot_be_placed_in_another_projects_feature(project, other_project):
    foreign_feature = FeatureFactory(project=other_project)
    with pytest.raises(PlanError):
        services.task_create(project=project, key="T", name="t", feature=foreign_feature)
    assert not Task.objects.filter(project=project).exists()


def test_task_create_failing_on_a_later_dependency_writes_nothing(project, other_project):
    a = TaskFactory(project=project, key="A")
    foreign = TaskFactory(project=other_project, key="F")
    with pytest.raises(PlanError):
        services.task_create(project=project, key="B", name="b", depends_on=[a, foreign])
    assert list(Task.objects.filter(project=project).values_list("key", flat=True)) == ["A"]
    assert not TaskDependency.objects.exists()


def test_status_changes_stamp_times(project):
    task = TaskFactory(project=project)
    services.task_set_status(task=task, status="in_progress")
    assert task.started_at is not None and task.completed_at is None
    services.task_set_status(task=task, status="done")
    assert task.completed_at >= task.started_at
    services.task_set_status(task=task, status="review")
    task.refresh_from_db()
    assert task.completed_at is None


def test_a_task_moved_back_to_pending_loses_its_agent_unless_one_is_given(project):
    """An assignment on a pending task reserves it, so a move back to pending frees it."""
    agent = AgentFactory(project=project)
    task = TaskFactory(project=project, status="in_progress", assigned_agent=agent)
    services.task_set_status(task=task, status="pending")
    task.refresh_from_db()
    assert (task.status, task.assigned_agent) == ("pending", None)

    services.task_update(task=task, data={"status": "in_progress", "assigned_agent": agent})
    services.task_update(task=task, data={"status": "pending", "assigned_agent": agent})
    task.refresh_from_db()
    assert (task.status, task.assigned_agent) == ("pending", agent)  # reserved on purpose
    services.task_update(task=task, data={"name": "Renamed"})
    task.refresh_from_db()
    assert task.assigned_agent == agent  # no status change, no change to the reservation


def test_a_terminated_agent_cannot_be_given_tasks(project):
    from django.utils import timezone

    gone = AgentFactory(project=project, status="terminated", terminated_at=timezone.now())
    task = TaskFactory(project=project)
    with pytest.raises(PlanError, match="terminated"):
        services.task_update(task=task, data={"assigned_agent": gone})
    with pytest.raises(PlanError, match="terminated"):
        services.task_create(project=project, key="NEW", name="n", assigned_agent=gone)
    task.refresh_from_db()
    assert task.assigned_agent is None
    assert not Task.objects.filter(key="NEW").exists()


def test_a_released_task_is_unassigned_and_stamped_in_one_update(project):
    agent = AgentFactory(project=project)
    task = TaskFactory(project=project, status="in_progress", assigned_agent=agent)
    with CaptureQueriesContext(connection) as queries:
        services.task_release(task_id=task.pk, status="done", project_id=project.pk)
    # The other statements are the status roll-up's (tests/planning/test_rollup.py).
    task_updates = [q for q in queries if q["sql"].startswith(f'UPDATE "{Task._meta.db_table}"')]
    assert len(task_updates) == 1
    task.refresh_from_db()
    assert (task.status, task.assigned_agent) == ("done", None)
    done_at = task.completed_at
    assert done_at is not None
    services.task_release(task_id=task.pk, status="done")
    task.refresh_from_db()
    assert task.completed_at == done_at  # kept, not restamped
    services.task_release(task_id=task.pk, status="failed")
    task.refresh_from_db()
    assert (task.status, task.completed_at) == ("failed", None)


def test_a_released_task_is_not_completed_before_it_started(project):
    from datetime import timedelta

    from django.utils import timezone

    later = timezone.now() + timedelta(minutes=5)  # a clock that stepped back meanwhile
    task = TaskFactory(project=project, status="in_progress", started_at=later)
    services.task_release(task_id=task.pk, status="done")
    task.refresh_from_db()
    assert task.completed_at == later


def test_releasing_a_task_to_an_unknown_status_is_refused(project):
    task = TaskFactory(project=project, status="in_progress")
    with pytest.raises(DomainError):
        services.task_release(task_id=task.pk, status="finished")
    task.refresh_from_db()
    assert task.status == "in_progress"


def test_invalid_status_is_a_validation_error_and_changes_nothing(project):
    task = TaskFactory(project=project)
    with pytest.raises(ValidationError):
        services.task_set_status(task=task, status="finished")
    task.refresh_from_db()
    assert task.status == "pending"


def test_sub_feature_dependency_cycle_is_rejected(project):
    feature = FeatureFactory(project=project)
    first = SubFeatureFactory(feature=feature, key="01-01")
    second = services.sub_feature_create(
        feature=feature, key="01-02", name="two", depends_on=[first]
    )
    with pytest.raises(PlanError) as excinfo:
        services.sub_feature_update(sub_feature=first, data={}, depends_on=[second])
    assert "01-01 -> 01-02 -> 01-01" in str(excinfo.value)


@pytest.mark.django_db(transaction=True)
def test_a_dependency_edit_in_progress_does_not_block_a_create_in_the_project(project) -> None:
    """The plan lock leaves the project row's key alone: an insert that refers to the
    project commits (its foreign key check) while a graph edit holds the lock."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
    first, second = TaskFactory(project=project, key="T1"), TaskFactory(project=project, key="T2")
    locked, release = threading.Event(), threading.Event()

    def edit_graph() -> None:
        try:
            with transaction.atomic():
                services.task_add_dependency(task=first, depends_on=second)
                locked.set()
                release.wait(timeout=HANG_S)
        finally:
            connections.close_all()

    editor = threading.Thread(target=edit_graph)
    editor.start()
    try:
        assert locked.wait(timeout=HANG_S)
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Waiting for the edit would fail here rather than hang the suite.
                cursor.execute("SET LOCAL lock_timeout = '5s'")
            services.feature_create(project=project, key="F1", name="One")
    finally:
        release.set()
        editor.join(timeout=HANG_S)

    assert project.features.filter(key="F1").exists()
    assert TaskDependency.objects.filter(task=first, depends_on=second).exists()
