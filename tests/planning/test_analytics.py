import pytest

from planning import selectors
from planning.analytics import PlanRow, TaskRow, compute_waves, critical_path
from planning.models import SubFeatureDependency, TaskDependency
from planning.services.imports import demo_project_ensure
from tests.factories import FeatureFactory, SubFeatureFactory, TaskFactory


def _plan(key, deps=(), files=(), wave=1, phase="01"):
    return PlanRow(
        key=key,
        phase=phase,
        declared_wave=wave,
        depends_on=tuple(deps),
        files_modified=tuple(files),
    )


def test_wave_is_depth_plus_one():
    report = compute_waves(
        [_plan("01-01"), _plan("01-02", ["01-01"], wave=2), _plan("01-03", ["01-02"])]
    )
    assert report.waves == {"01-01": 1, "01-02": 2, "01-03": 3}
    assert report.warnings == [
        "plan 01-03 declares wave 1 but its dependencies and files put it in wave 3"
    ]


def test_shared_files_push_the_later_plan_to_a_later_wave():
    report = compute_waves(
        [
            _plan("01-01", files=["a.py"]),
            _plan("01-02", files=["a.py"]),
            _plan("01-03", files=["b.py"]),
        ]
    )
    assert report.waves == {"01-01": 1, "01-02": 2, "01-03": 1}


def test_dependencies_on_earlier_phases_add_no_depth():
    report = compute_waves([_plan("01-01"), _plan("02-01", ["01-01"], phase="02")])
    assert report.waves == {"01-01": 1, "02-01": 1}


def test_wave_cycle_is_named():
    with pytest.raises(ValueError, match="01-01 -> 01-02 -> 01-01"):
        compute_waves([_plan("01-01", ["01-02"]), _plan("01-02", ["01-01"])])


def _task(key, minutes, deps=(), plan=None):
    return TaskRow(
        key=key,
        status="pending",
        estimated_minutes=minutes,
        depends_on=tuple(deps),
        plan=plan,
        feature=None,
    )


def test_critical_path_follows_the_longest_chain_including_plan_dependencies():
    tasks = [
        _task("A", 10),
        _task("B", 50, ["A"]),
        _task("C", 5, ["A"]),
        _task("P1", 30, plan="p1"),
        _task("P2", 1, plan="p2"),
    ]
    path = critical_path(tasks, {"p2": ["p1"]})
    assert (path.keys, path.minutes) == (["A", "B"], 60)
    path = critical_path([*tasks, _task("P3", 40, ["P2"], plan="p2")], {"p2": ["p1"]})
    assert (path.keys, path.minutes) == (["P1", "P2", "P3"], 71)


@pytest.mark.django_db
def test_plan_analytics_of_the_demo_plan(user):
    project = demo_project_ensure(owner=user)
    analytics = selectors.plan_analytics(project=project)
    assert analytics.waves == {
        "01-01": 1,
        "01-02": 2,
        "02-01": 1,
        "02-02": 2,
        "02.1-01": 1,
        "03-01": 1,
    }
    assert analytics.wave_warnings == []
    assert analytics.ready == ["01-02-T1"]
    assert analytics.done == ["01-01-T1", "01-01-T2"]
    assert "02-01-T1" in analytics.blocked  # its plan waits for 01-02
    assert analytics.critical_path[0] == "01-01-T1" and analytics.critical_path[-1] == "03-01-T1"
    assert analytics.critical_path_minutes == 15 * len(analytics.critical_path)
    foundation = analytics.progress[0]
    assert (foundation.key, foundation.total, foundation.done, foundation.percent) == (
        "01",
        4,
        2,
        50,
    )
    assert analytics.task_cycle is None and analytics.plan_cycle is None


@pytest.mark.django_db
def test_plan_analytics_reports_cycles_instead_of_waves(project):
    feature = FeatureFactory(project=project)
    a = SubFeatureFactory(feature=feature, key="01-01")
    b = SubFeatureFactory(feature=feature, key="01-02")
    SubFeatureDependency.objects.create(sub_feature=a, depends_on=b)
    SubFeatureDependency.objects.create(sub_feature=b, depends_on=a)
    t1, t2 = TaskFactory(project=project, key="X"), TaskFactory(project=project, key="Y")
    TaskDependency.objects.create(task=t1, depends_on=t2)
    TaskDependency.objects.create(task=t2, depends_on=t1)
    analytics = selectors.plan_analytics(project=project)
    assert analytics.plan_cycle in (["01-01", "01-02", "01-01"], ["01-02", "01-01", "01-02"])
    assert analytics.task_cycle in (["X", "Y", "X"], ["Y", "X", "Y"])
    assert analytics.waves == {} and analytics.critical_path == []


@pytest.mark.django_db
@pytest.mark.parametrize("count", [10, 300])
def test_analytics_endpoint_query_count_is_constant(
    api, user, count, django_assert_max_num_queries
):
    project = demo_project_ensure(owner=user)
    for i in range(count):
        TaskFactory(project=project, key=f"EXTRA-{i}")
    with django_assert_max_num_queries(10):
        response = api.get(f"/api/v1/projects/{project.slug}/analytics/")
    assert response.status_code == 200
    assert response.data["progress"][0]["percent"] == 50
    assert len(response.data["ready"]) == count + 1
