import pytest

from planning import selectors
from planning.models import TaskDependency
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_next_ready_orders_by_priority_then_wave_then_key(project):
    TaskFactory(project=project, key="B", priority="medium", wave=1)
    TaskFactory(project=project, key="A", priority="medium", wave=2)
    TaskFactory(project=project, key="C", priority="low", wave=1)
    assert selectors.task_next_ready(project=project).key == "B"
    TaskFactory(project=project, key="Z", priority="high", wave=5)
    assert selectors.task_next_ready(project=project).key == "Z"
    TaskFactory(project=project, key="Y", priority="high", wave=5)
    assert selectors.task_next_ready(project=project).key == "Y"


def test_next_ready_skips_tasks_with_unfinished_dependencies_and_non_pending(project):
    blocker = TaskFactory(project=project, key="A", priority="low", status="in_progress")
    waiting = TaskFactory(project=project, key="B", priority="high")
    TaskDependency.objects.create(task=waiting, depends_on=blocker)
    TaskFactory(project=project, key="C", priority="high", status="done")
    assert selectors.task_next_ready(project=project) is None
    blocker.status = "done"
    blocker.save()
    assert selectors.task_next_ready(project=project).key == "B"


def test_next_ready_ignores_other_projects(project, other_project):
    TaskFactory(project=other_project, key="A", priority="high")
    assert selectors.task_next_ready(project=project) is None


def test_next_ready_is_one_query(project, django_assert_num_queries):
    for i in range(20):
        TaskFactory(project=project, key=f"T{i:02d}")
    with django_assert_num_queries(2):  # the task (joined) + its dependency keys
        selectors.task_next_ready(project=project)


def test_project_for_user_hides_projects_from_non_members(project):
    from django.http import Http404

    stranger = UserFactory()
    with pytest.raises(Http404):
        selectors.project_for_user(user=stranger, slug=project.slug)
    found, membership = selectors.project_for_user(user=project.owner, slug=project.slug)
    assert found == project and membership.role == "owner"


def test_plan_tree_groups_tasks_under_their_sub_features(project):
    from tests.factories import FeatureFactory, SubFeatureFactory

    feature = FeatureFactory(project=project, key="01")
    sub = SubFeatureFactory(feature=feature, key="01-01")
    TaskFactory(project=project, feature=feature, sub_feature=sub, key="01-01-T1")
    TaskFactory(project=project, feature=feature, key="01-X")
    TaskFactory(project=project, key="LOOSE")
    tree = selectors.plan_tree(project=project)
    [node] = tree.features
    assert [t.key for t in node.sub_features[0].tasks] == ["01-01-T1"]
    assert [t.key for t in node.loose_tasks] == ["01-X"]
    assert [t.key for t in tree.unassigned_tasks] == ["LOOSE"]
