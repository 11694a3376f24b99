"""Features, sub-features and the project follow their tasks (planning.services.rollup)."""

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from planning import services
from planning.importers.document import FeatureSpec, PlanDocument, SubFeatureSpec, TaskSpec
from planning.models import Feature, Project, SubFeature, Task
from planning.services.claims import task_claim_next
from planning.services.plans import plan_apply
from planning.services.rollup import plan_status_rollup, rolled_up_status
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(project: Project) -> Project:
    """Feature 01 with plans 01-01 (tasks A1, A2) and 01-02 (B1); feature 02 with a
    loose task C1. Made through the services, as people and importers make them."""
    project.status = Project.Status.ACTIVE
    project.save()
    first = services.feature_create(project=project, key="01", name="First")
    second = services.feature_create(project=project, key="02", name="Second")
    plan_a = services.sub_feature_create(feature=first, key="01-01", name="Plan A")
    plan_b = services.sub_feature_create(feature=first, key="01-02", name="Plan B")
    for key, sub in (("A1", plan_a), ("A2", plan_a), ("B1", plan_b)):
        services.task_create(project=project, key=key, name=key, sub_feature=sub)
    services.task_create(project=project, key="C1", name="C1", feature=second)
    return project


def set_status(project: Project, key: str, status: str) -> None:
    services.task_set_status(task=Task.objects.get(project=project, key=key), status=status)


def statuses(project: Project) -> dict[str, str]:
    """Every feature's, sub-feature's and the project's status, by key."""
    found = dict(project.features.values_list("key", "status"))
    found.update(project.sub_features.values_list("key", "status"))
    found["project"] = Project.objects.get(pk=project.pk).status
    return found


def test_a_new_plan_keeps_the_statuses_it_was_given(tree):
    assert statuses(tree) == {
        "01": "backlog",
        "02": "backlog",
        "01-01": "planned",
        "01-02": "planned",
        "project": "active",
    }


@pytest.mark.parametrize("started", ["in_progress", "review", "blocked", "done", "failed"])
def test_a_started_task_puts_its_plan_and_feature_in_progress(tree, started):
    set_status(tree, "A1", started)

    assert statuses(tree) == {
        "01": "in_progress",
        "02": "backlog",
        "01-01": "in_progress",
        "01-02": "planned",
        "project": "active",
    }


@pytest.mark.parametrize("waiting", ["pending", "deferred"])
def test_tasks_not_started_leave_a_waiting_plan_waiting(tree, waiting):
    set_status(tree, "A1", waiting)

    assert statuses(tree)["01-01"] == "planned"
    assert statuses(tree)["01"] == "backlog"


def test_a_plan_is_done_when_all_its_tasks_are_and_its_feature_when_all_of_its_are(tree):
    set_status(tree, "A1", "done")
    set_status(tree, "A2", "done")
    assert (statuses(tree)["01-01"], statuses(tree)["01"]) == ("done", "in_progress")

    set_status(tree, "B1", "done")

    assert (statuses(tree)["01-02"], statuses(tree)["01"]) == ("done", "done")


def test_cancelled_tasks_do_not_hold_a_plan_back(tree):
    set_status(tree, "A1", "done")
    set_status(tree, "A2", "cancelled")

    assert statuses(tree)["01-01"] == "done"


def test_a_plan_with_only_cancelled_tasks_is_cancelled(tree):
    set_status(tree, "A1", "cancelled")
    set_status(tree, "A2", "cancelled")
    set_status(tree, "C1", "cancelled")

    assert statuses(tree)["01-01"] == "cancelled"
    assert statuses(tree)["02"] == "cancelled"
    assert statuses(tree)["01"] == "backlog"  # B1 is still to do


def test_a_deferred_task_holds_a_plan_back(tree):
    set_status(tree, "A1", "done")
    set_status(tree, "A2", "deferred")

    assert statuses(tree)["01-01"] == "in_progress"


def test_a_reopened_task_moves_its_plan_and_feature_back(tree):
    for key in ("A1", "A2", "B1"):
        set_status(tree, key, "done")
    assert (statuses(tree)["01-01"], statuses(tree)["01"]) == ("done", "done")

    set_status(tree, "A2", "review")

    assert (statuses(tree)["01-01"], statuses(tree)["01"]) == ("in_progress", "in_progress")
    assert statuses(tree)["01-02"] == "done"


def test_a_plan_that_had_started_does_not_fall_back_to_waiting(tree):
    set_status(tree, "C1", "done")
    assert statuses(tree)["02"] == "done"

    set_status(tree, "C1", "pending")  # reopened: the work begun is not undone

    assert statuses(tree)["02"] == "in_progress"


def test_a_cancelled_plan_that_gets_work_again_is_planned(tree):
    set_status(tree, "C1", "cancelled")
    set_status(tree, "C1", "pending")

    assert statuses(tree)["02"] == "planned"


def test_a_new_task_reopens_a_done_plan(tree):
    set_status(tree, "B1", "done")
    plan_b = SubFeature.objects.get(project=tree, key="01-02")

    services.task_create(project=tree, key="B2", name="More", sub_feature=plan_b)

    assert statuses(tree)["01-02"] == "in_progress"


def test_a_task_moved_elsewhere_rolls_up_where_it_left_and_where_it_went(tree):
    set_status(tree, "A1", "done")
    set_status(tree, "A2", "in_progress")
    plan_b = SubFeature.objects.get(project=tree, key="01-02")

    services.task_update(
        task=Task.objects.get(project=tree, key="A2"), data={}, placement={"sub_feature": plan_b}
    )

    assert (statuses(tree)["01-01"], statuses(tree)["01-02"]) == ("done", "in_progress")


def test_deleting_the_last_open_task_finishes_its_plan(tree):
    set_status(tree, "A1", "done")

    services.task_delete(task=Task.objects.get(project=tree, key="A2"))

    assert statuses(tree)["01-01"] == "done"


def test_deleting_a_plan_rolls_up_its_feature(tree):
    for key in ("A1", "A2"):
        set_status(tree, key, "done")

    services.sub_feature_delete(sub_feature=SubFeature.objects.get(project=tree, key="01-02"))

    assert statuses(tree)["01"] == "done"


def test_a_plan_moved_to_another_feature_rolls_up_both(tree):
    for key in ("A1", "A2", "C1"):
        set_status(tree, key, "done")
    set_status(tree, "B1", "in_progress")
    assert (statuses(tree)["01"], statuses(tree)["02"]) == ("in_progress", "done")

    services.sub_feature_update(
        sub_feature=SubFeature.objects.get(project=tree, key="01-02"),
        data={},
        feature=Feature.objects.get(project=tree, key="02"),
    )

    assert (statuses(tree)["01"], statuses(tree)["02"]) == ("done", "in_progress")


def test_a_container_without_tasks_keeps_the_status_a_person_gave_it(tree):
    lone = services.feature_create(project=tree, key="03", name="Empty", status="done")

    plan_status_rollup(project_id=tree.pk)

    lone.refresh_from_db()
    assert lone.status == "done"


def test_the_derivation_itself():
    counts = {"total": 4, "cancelled": 1, "done": 3, "started": 3}
    assert rolled_up_status("planned", **counts) == "done"
    assert rolled_up_status("done", **{**counts, "done": 2}) == "in_progress"
    assert rolled_up_status("backlog", total=2, cancelled=0, done=0, started=0) == "backlog"
    assert rolled_up_status("cancelled", total=2, cancelled=0, done=0, started=0) == "planned"
    assert rolled_up_status("cancelled", total=0, cancelled=0, done=0, started=0) == "cancelled"


# The project ----------------------------------------------------------------------------


def finish_all(project: Project) -> None:
    for key in ("A1", "A2", "B1", "C1"):
        set_status(project, key, "done")


def test_a_project_whose_tasks_are_all_done_is_completed(tree):
    before = timezone.now()
    finish_all(tree)

    tree.refresh_from_db()
    assert tree.status == "completed"
    assert isinstance(tree.completed_at, datetime) and tree.completed_at >= before


def test_cancelled_and_deferred_tasks_do_not_keep_a_project_open(tree):
    set_status(tree, "A1", "done")
    set_status(tree, "A2", "cancelled")
    set_status(tree, "B1", "deferred")
    assert statuses(tree)["project"] == "active"

    set_status(tree, "C1", "done")

    assert statuses(tree)["project"] == "completed"


def test_a_project_of_cancelled_tasks_only_is_not_completed(tree):
    for key in ("A1", "A2", "B1", "C1"):
        set_status(tree, key, "cancelled")

    assert statuses(tree)["project"] == "active"


@pytest.mark.parametrize(
    "reopen",
    [
        lambda p: set_status(p, "A1", "review"),
        lambda p: services.task_create(project=p, key="N1", name="New work"),
    ],
    ids=["a task reopened", "a new task"],
)
def test_a_completed_project_with_work_again_is_active_again(tree, reopen):
    finish_all(tree)

    reopen(tree)

    tree.refresh_from_db()
    assert (tree.status, tree.completed_at) == ("active", None)


def test_deleting_the_last_open_task_completes_the_project(tree):
    for key in ("A1", "A2", "B1"):
        set_status(tree, key, "done")

    services.task_delete(task=Task.objects.get(project=tree, key="C1"))

    assert statuses(tree)["project"] == "completed"


@pytest.mark.parametrize("status", ["paused", "archived"])
def test_paused_and_archived_projects_are_left_alone(tree, status):
    Project.objects.filter(pk=tree.pk).update(status=status)
    finish_all(tree)
    set_status(tree, "A1", "pending")

    tree.refresh_from_db()
    assert (tree.status, tree.completed_at) == (status, None)
    assert statuses(tree)["01-01"] == "in_progress"  # its plans still roll up


def test_a_planning_project_is_never_made_active(tree):
    Project.objects.filter(pk=tree.pk).update(status="planning")

    set_status(tree, "A1", "in_progress")
    set_status(tree, "A1", "done")

    assert statuses(tree)["project"] == "planning"


def test_a_planning_project_whose_work_is_all_done_is_completed(tree):
    Project.objects.filter(pk=tree.pk).update(status="planning")

    finish_all(tree)

    assert statuses(tree)["project"] == "completed"


# Every writer of task statuses -----------------------------------------------------------


def test_a_released_task_rolls_up(tree):
    agent = AgentFactory(project=tree)
    task = Task.objects.get(project=tree, key="A1")
    services.task_update(task=task, data={"status": "in_progress", "assigned_agent": agent})
    services.task_release(task_id=task.pk, status="pending", agent_id=agent.pk)
    assert statuses(tree)["01-01"] == "in_progress"  # it had started

    for key in ("A2", "B1", "C1"):
        set_status(tree, key, "done")
    services.task_release(task_id=task.pk, status="done")

    assert statuses(tree) == {
        "01": "done",
        "02": "done",
        "01-01": "done",
        "01-02": "done",
        "project": "completed",
    }


def test_a_claim_puts_a_waiting_plan_in_progress(tree):
    agent = AgentFactory(project=tree, type="external")
    set_status(tree, "C1", "done")  # the loose task, which no wave holds back, is done

    claimed = task_claim_next(project_id=tree.pk, agent_id=agent.pk, now=timezone.now())

    assert claimed is not None and claimed.task.sub_feature_id is not None
    plan = SubFeature.objects.get(pk=claimed.task.sub_feature_id)
    assert plan.status == "in_progress"
    assert Feature.objects.get(pk=plan.feature_id).status == "in_progress"


def test_a_claim_in_a_plan_already_started_makes_no_roll_up_query(tree):
    agent = AgentFactory(project=tree, type="external")
    set_status(tree, "A1", "in_progress")
    set_status(tree, "B1", "in_progress")
    set_status(tree, "C1", "in_progress")

    with CaptureQueriesContext(connection) as queries:
        claimed = task_claim_next(project_id=tree.pk, agent_id=agent.pk, now=timezone.now())

    assert claimed is not None and claimed.task.key == "A2"
    assert len(queries) == 1  # the claim itself


def test_an_import_rolls_the_whole_plan_up(project):
    project.status = Project.Status.ACTIVE
    project.save()
    document = PlanDocument(
        features=[FeatureSpec(key="01", name="One"), FeatureSpec(key="02", name="Two")],
        sub_features=[SubFeatureSpec(key="01-01", feature="01", name="Plan")],
        tasks=[
            TaskSpec(key="T1", name="T1", sub_feature="01-01", status="done"),
            TaskSpec(key="T2", name="T2", sub_feature="01-01", status="review"),
            TaskSpec(key="T3", name="T3", feature="02", status="done"),
        ],
    )

    plan_apply(project=project, document=document)

    assert statuses(project) == {
        "01": "in_progress",
        "02": "done",
        "01-01": "in_progress",
        "project": "active",
    }
    document.tasks[1].status = "done"
    plan_apply(project=project, document=document)
    assert set(statuses(project).values()) == {"done", "completed"}


# Cost -------------------------------------------------------------------------------------


def test_a_roll_up_costs_the_same_for_1_task_as_for_50(project, django_assert_max_num_queries):
    def make(slug: str, features: int, plans: int, tasks: int) -> Project:
        made = Project.objects.create(name=slug, slug=slug, owner=project.owner, status="active")
        for f in range(features):
            feature = services.feature_create(project=made, key=f"{f}", name="F")
            for s in range(plans):
                sub = services.sub_feature_create(feature=feature, key=f"{f}-{s}", name="S")
                TaskFactory.create_batch(
                    tasks, project=made, feature=feature, sub_feature=sub, status="done"
                )
        return made

    counts = []
    # 1 task; then 50, in 5 features of 2 plans each.
    for made in (make("one", 1, 1, 1), make("fifty", 5, 2, 5)):
        ids = list(made.tasks.values_list("pk", flat=True))
        # Everything changes: every container goes done, and the project is completed.
        with django_assert_max_num_queries(9), CaptureQueriesContext(connection) as whole:
            plan_status_rollup(project_id=made.pk)
        assert set(statuses(made).values()) == {"done", "completed"}
        Feature.objects.filter(project=made).update(status="backlog")
        SubFeature.objects.filter(project=made).update(status="planned")
        Project.objects.filter(pk=made.pk).update(status="active", completed_at=None)
        with django_assert_max_num_queries(10), CaptureQueriesContext(connection) as scoped:
            plan_status_rollup(project_id=made.pk, task_ids=ids)
        assert set(statuses(made).values()) == {"done", "completed"}
        counts.append((len(whole), len(scoped)))

    assert counts[0] == counts[1]


@pytest.mark.parametrize("gone", [0, 9])
def test_a_roll_up_of_a_few_tasks_or_many_reads_them_alike(tree, gone):
    # A few tasks are read by a prepared statement, many by a queryset (more than
    # run_end_statements.PLACES_PREPARED, with ids of tasks deleted meanwhile).
    Task.objects.filter(project=tree).update(status="done")
    ids = [*Task.objects.filter(project=tree).values_list("pk", flat=True)]
    ids += [-n for n in range(1, gone + 1)]

    plan_status_rollup(project_id=tree.pk, task_ids=ids)

    assert set(statuses(tree).values()) == {"done", "completed"}
