import pytest

from core.text import natural_sort_key
from planning import selectors, services
from planning.models import TaskDependency
from tests.factories import FeatureFactory, SubFeatureFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_next_ready_orders_by_priority_then_wave_then_key(project):
    plan = SubFeatureFactory(feature=FeatureFactory(project=project))
    TaskFactory(project=project, feature=plan.feature, sub_feature=plan, key="B", wave=1)
    TaskFactory(project=project, feature=plan.feature, sub_feature=plan, key="A", wave=2)
    TaskFactory(
        project=project, feature=plan.feature, sub_feature=plan, key="C", priority="low", wave=1
    )
    assert selectors.task_next_ready(project=project).key == "B"
    TaskFactory(project=project, key="Z", priority="high", wave=5)
    assert selectors.task_next_ready(project=project).key == "Z"
    TaskFactory(project=project, key="Y", priority="high", wave=5)
    assert selectors.task_next_ready(project=project).key == "Y"


def test_next_ready_orders_tasks_outside_plans_without_waves_and_keys_naturally(project):
    TaskFactory(project=project, key="10", wave=1)
    TaskFactory(project=project, key="9", wave=3)
    assert selectors.task_next_ready(project=project).key == "9"
    TaskFactory(project=project, key="2", wave=9)
    assert selectors.task_next_ready(project=project).key == "2"


def test_next_ready_skips_tasks_with_unfinished_dependencies_and_non_pending(project):
    plan = SubFeatureFactory(feature=FeatureFactory(project=project))
    blocker = TaskFactory(
        project=project,
        feature=plan.feature,
        sub_feature=plan,
        key="A",
        priority="low",
        status="in_progress",
    )
    waiting = TaskFactory(project=project, key="B", priority="high")
    TaskDependency.objects.create(task=waiting, depends_on=blocker)
    TaskFactory(project=project, key="C", priority="high", status="done")
    assert selectors.task_next_ready(project=project) is None
    blocker.status = "done"
    blocker.save()
    assert selectors.task_next_ready(project=project).key == "B"


def test_next_ready_prefers_started_plans_then_fewer_dependencies(project):
    from tests.factories import FeatureFactory, SubFeatureFactory

    feature = FeatureFactory(project=project)
    fresh = SubFeatureFactory(feature=feature, key="01-01")
    started = SubFeatureFactory(feature=feature, key="01-02")
    TaskFactory(project=project, feature=feature, sub_feature=fresh, key="A", priority="high")
    TaskFactory(
        project=project, feature=feature, sub_feature=started, key="B1", status="in_progress"
    )
    TaskFactory(project=project, feature=feature, sub_feature=started, key="B2", priority="low")
    assert selectors.task_next_ready(project=project).key == "B2"
    TaskDependency.objects.all().delete()
    project.tasks.filter(key="B1").update(status="done")
    project.tasks.filter(key="B2").update(status="done")
    done = TaskFactory(project=project, key="D", status="done")
    c1 = TaskFactory(project=project, key="C1", priority="high")
    TaskFactory(project=project, key="C2", priority="high")
    TaskDependency.objects.create(task=c1, depends_on=done)
    # A and C2 (no deps) tie on priority; C2 is outside a plan, where no wave holds it
    # back; C1 has a dependency.
    assert selectors.task_next_ready(project=project).key == "C2"
    project.tasks.filter(key="C2").update(status="done")
    assert selectors.task_next_ready(project=project).key == "C1"
    project.tasks.filter(key="C1").update(status="done")
    assert selectors.task_next_ready(project=project).key == "A"


def test_checkpoint_tasks_are_flagged_as_needing_a_person(project):
    TaskFactory(project=project, key="H", type="checkpoint:human-verify", priority="high")
    task = selectors.task_next_ready(project=project)
    assert task.key == "H" and task.needs_human


def test_next_ready_ignores_other_projects(project, other_project):
    TaskFactory(project=other_project, key="A", priority="high")
    assert selectors.task_next_ready(project=project) is None


@pytest.mark.parametrize("count", [20, 200])
def test_next_ready_runs_a_fixed_number_of_queries(project, count, django_assert_max_num_queries):
    from planning.models import Task

    Task.objects.bulk_create(
        Task(project=project, key=f"T{i:03d}", sort_key=natural_sort_key(f"T{i:03d}"), name="t")
        for i in range(count)
    )
    # started tasks; plans in progress (none here, so their stage is skipped); the best
    # group with the first task in it; that task read whole; its dependency keys
    with django_assert_max_num_queries(5):
        assert selectors.task_next_ready(project=project).key == "T000"


def test_next_ready_ranks_keys_that_differ_only_in_leading_zeros_by_key(
    project, django_assert_max_num_queries
):
    # `T1` and `T01` share their place in natural order; the key itself decides.
    for key in ("T1", "T01", "T2"):
        TaskFactory(project=project, key=key, priority="high")
    with django_assert_max_num_queries(6):
        assert selectors.task_next_ready(project=project).key == "T01"
    project.tasks.filter(key="T01").update(status="done")
    assert selectors.task_next_ready(project=project).key == "T1"


def test_next_ready_prefers_a_task_without_dependencies_to_an_earlier_one_with_done_ones(
    project,
):
    done = TaskFactory(project=project, key="D", status="done")
    first = TaskFactory(project=project, key="A1", priority="high")
    TaskDependency.objects.create(task=first, depends_on=done)
    waiting = TaskFactory(project=project, key="A2", priority="high")
    TaskDependency.objects.create(task=waiting, depends_on=TaskFactory(project=project, key="X"))
    TaskFactory(project=project, key="A3", priority="high")
    # A1 comes first by key but has a dependency; A2 is not ready; A3 has none.
    assert selectors.task_next_ready(project=project).key == "A3"
    project.tasks.filter(key="A3").update(status="done")
    assert selectors.task_next_ready(project=project).key == "A1"


def test_project_for_user_hides_projects_from_non_members(project):
    from django.http import Http404

    stranger = UserFactory()
    with pytest.raises(Http404):
        selectors.project_for_user(user=stranger, slug=project.slug)
    found, membership = selectors.project_for_user(user=project.owner, slug=project.slug)
    assert found == project and membership.role == "owner"


def test_with_counts_gives_features_and_sub_features_their_task_counts(project):
    from planning import outline
    from tests.factories import FeatureFactory, SubFeatureFactory

    feature = FeatureFactory(project=project, key="01")
    empty = FeatureFactory(project=project, key="02")
    sub = SubFeatureFactory(feature=feature, key="01-01")
    TaskFactory(project=project, feature=feature, sub_feature=sub, key="01-01-T1", status="done")
    TaskFactory(project=project, feature=feature, sub_feature=sub, key="01-01-T2", status="review")
    TaskFactory(project=project, feature=feature, key="01-X")
    TaskFactory(project=project, key="LOOSE")
    features = list(outline.feature_outline(project=project))
    outline.with_counts(features)
    subs = list(outline.sub_feature_outline(feature=feature))
    outline.with_counts(subs)

    assert [(f.key, f.task_count, f.done_count, f.started_count) for f in features] == [
        ("01", 3, 1, 1),
        ("02", 0, 0, 0),
    ]
    assert [(f.loose_count, f.sub_feature_count) for f in features] == [(1, 1), (0, 0)]
    assert (subs[0].task_count, subs[0].done_count, subs[0].started_count) == (2, 1, 1)
    assert outline.unassigned_task_count(project=project) == 1
    assert empty.pk == features[1].pk


def test_project_list_sorts_names_case_insensitively(user):
    for name in ["beta", "Zeta", "alpha", "Gamma"]:
        services.project_create(owner=user, name=name)
    names = [p.name for p in selectors.project_list_for_user(user=user)]
    assert names == ["alpha", "beta", "Gamma", "Zeta"]


def test_next_reads_readiness_as_the_ready_list_does(project, other_project):
    """`next` runs readiness's conditions compiled once (as SQL naming the task table):
    they pick the same tasks as task_ready_list on a plan where each rule holds some
    task back."""
    from planning.models import ExternalDependency, SubFeatureDependency, Task
    from planning.selectors.readiness import _unblocked_top_level

    feature = FeatureFactory(project=project)
    first, second, third = (SubFeatureFactory(feature=feature) for _ in range(3))

    def task(key, plan, **fields):
        return TaskFactory(project=project, feature=feature, sub_feature=plan, key=key, **fields)

    done = task("D", first, status="done")
    open_dependency = task("O", first)
    task("free", first)
    TaskDependency.objects.create(task=task("after-done", first), depends_on=done)
    TaskDependency.objects.create(task=task("after-open", first), depends_on=open_dependency)
    # A plan held back by a plan with unfinished work, and one by an outside plan.
    SubFeatureDependency.objects.create(sub_feature=second, depends_on=first)
    task("held-by-plan", second)
    ExternalDependency.objects.create(sub_feature=third, reference="09-04")
    task("held-outside", third)
    # Subtasks: of a parent whose dependency is open, and of one in progress.
    waiting_parent = task("P1", first)
    TaskDependency.objects.create(task=waiting_parent, depends_on=open_dependency)
    task("P1.1", first, parent=waiting_parent)
    started_parent = task("P2", first, status="in_progress")
    TaskDependency.objects.create(task=started_parent, depends_on=open_dependency)
    task("P2.1", first, parent=started_parent)
    TaskFactory(project=other_project, key="elsewhere")

    pending = Task.objects.filter(project=project, status=Task.Status.PENDING)
    expected = set(selectors.task_ready_list(project=project).values_list("key", flat=True))
    assert expected == {"O", "free", "after-done", "P2.1"}
    assert set(_unblocked_top_level(pending).values_list("key", flat=True)) == expected
    # With select_related's joins of the task table (the parent) beside it.
    joined = _unblocked_top_level(pending).select_related("parent", "sub_feature")
    assert {t.key for t in joined} == expected
