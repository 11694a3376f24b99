"""Moving features, sub-features, tasks and requirements among their siblings, and
linking requirements to features: the services the plan page's and the Requirements
tab's editing calls."""

import pytest

from planning import coverage, outline, selectors, services
from planning.exporters.markdown import render_markdown
from planning.models import Feature, Requirement, SubFeature, Task
from planning.services import PlanError, plan_edits
from planning.services.versions import version_create, version_restore
from tests.factories import (
    FeatureFactory,
    ProjectFactory,
    RequirementFactory,
    SubFeatureFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


def feature_keys(project) -> list[str]:
    return list(outline.feature_outline(project=project).values_list("key", flat=True))


def test_moving_a_feature_renumbers_a_plan_whose_positions_were_all_zero(project):
    # Imported plans leave every position at 0 and order by key alone.
    for key in ("01", "02", "03", "04"):
        FeatureFactory(project=project, key=key, position=0)
    third = Feature.objects.get(project=project, key="03")

    plan_edits.feature_reorder(feature=third, offset=-1)

    assert feature_keys(project) == ["01", "03", "02", "04"]
    # Renumbered apart, so the next moves find room between neighbours.
    positions = list(outline.feature_outline(project=project).values_list("position", flat=True))
    assert positions == sorted(set(positions))
    assert third.position == positions[1]


def test_a_feature_moves_to_an_index_and_stops_at_either_end(project):
    for key in ("01", "02", "03"):
        FeatureFactory(project=project, key=key)
    first = Feature.objects.get(project=project, key="01")

    plan_edits.feature_reorder(feature=first, index=2)
    assert feature_keys(project) == ["02", "03", "01"]
    plan_edits.feature_reorder(feature=first, offset=5)
    assert feature_keys(project) == ["02", "03", "01"]
    plan_edits.feature_reorder(feature=first, index=0)
    plan_edits.feature_reorder(feature=first, offset=-1)
    assert feature_keys(project) == ["01", "02", "03"]


def test_a_move_with_room_between_neighbours_writes_one_row_and_moves_the_plan_stamp(project):
    features = [FeatureFactory(project=project, key=f"0{i}", position=i * 10) for i in range(4)]
    stamp = outline.plan_stamp(project=project)
    untouched = Feature.objects.get(pk=features[0].pk).updated_at

    plan_edits.feature_reorder(feature=features[3], offset=-1)

    assert feature_keys(project) == ["00", "01", "03", "02"]
    assert Feature.objects.get(pk=features[3].pk).position == 15
    assert Feature.objects.get(pk=features[0].pk).updated_at == untouched
    assert Feature.objects.get(pk=features[2].pk).position == 20
    assert outline.plan_stamp(project=project) != stamp


def test_a_sub_feature_moves_among_its_own_features_sub_features_only(project):
    feature, other = FeatureFactory(project=project), FeatureFactory(project=project)
    subs = [SubFeatureFactory(feature=feature, key=f"A-{i}", position=i) for i in range(3)]
    elsewhere = SubFeatureFactory(feature=other, key="B-0", position=7)

    plan_edits.sub_feature_reorder(sub_feature=subs[0], offset=1)

    order = SubFeature.objects.filter(feature=feature).order_by("position", "key")
    assert [s.key for s in order] == ["A-1", "A-0", "A-2"]
    elsewhere.refresh_from_db()
    assert elsewhere.position == 7


def test_a_task_moves_within_its_group_and_leaves_the_others_alone(project):
    feature = FeatureFactory(project=project)
    sub = SubFeatureFactory(feature=feature)
    in_sub = [
        TaskFactory(project=project, feature=feature, sub_feature=sub, key=f"S{i}", position=0)
        for i in range(3)
    ]
    loose = TaskFactory(project=project, feature=feature, key="L1", position=5)
    outside = TaskFactory(project=project, key="U1", position=9)

    plan_edits.task_reorder(task=in_sub[2], index=0)

    group = outline.task_group(project=project, kind="sub_feature", pk=sub.pk)
    assert [t.key for t in group] == ["S2", "S0", "S1"]
    for task, position in ((loose, 5), (outside, 9)):
        task.refresh_from_db()
        assert task.position == position


def test_tasks_outside_any_feature_reorder_among_themselves(project):
    tasks = [TaskFactory(project=project, key=f"U{i}", position=i) for i in range(3)]
    plan_edits.task_reorder(task=tasks[0], offset=2)
    group = outline.task_group(project=project, kind="unassigned", pk=None)
    assert [t.key for t in group] == ["U1", "U2", "U0"]


def test_requirement_links_and_unlinks_a_feature_once(project):
    requirement = RequirementFactory(project=project)
    feature = FeatureFactory(project=project)

    plan_edits.requirement_link_feature(requirement=requirement, feature=feature)
    plan_edits.requirement_link_feature(requirement=requirement, feature=feature)
    assert list(requirement.features.all()) == [feature]

    plan_edits.requirement_unlink_feature(requirement=requirement, feature=feature)
    assert not requirement.features.exists()


def test_a_feature_of_another_project_cannot_be_linked(project):
    requirement = RequirementFactory(project=project)
    stranger = FeatureFactory(project=ProjectFactory())
    with pytest.raises(PlanError):
        plan_edits.requirement_link_feature(requirement=requirement, feature=stranger)
    assert not requirement.features.exists()


def test_deletion_impact_counts_children_and_the_tasks_that_wait_elsewhere(project):
    feature = FeatureFactory(project=project)
    sub = SubFeatureFactory(feature=feature)
    inside = [
        TaskFactory(project=project, feature=feature, sub_feature=sub, key=f"I{i}")
        for i in range(2)
    ]
    TaskFactory(project=project, feature=feature, key="L1")
    waiting = TaskFactory(project=project, key="W1")
    services.task_add_dependency(task=waiting, depends_on=inside[0])
    services.task_add_dependency(task=inside[1], depends_on=inside[0])  # inside: not counted
    RequirementFactory(project=project).features.add(feature)
    TaskFactory(project=project, key="I0.1", parent=inside[0], feature=feature, sub_feature=sub)

    impact = outline.feature_deletion_impact(feature=feature)
    assert (impact.sub_features, impact.tasks, impact.waiting_tasks) == (1, 4, 1)
    assert impact.requirement_links == 1

    sub_impact = outline.sub_feature_deletion_impact(sub_feature=sub)
    assert (sub_impact.tasks, sub_impact.waiting_tasks) == (3, 1)

    task_impact = outline.task_deletion_impact(task=inside[0])
    assert (task_impact.subtasks, task_impact.waiting_tasks) == (1, 2)
    assert not outline.task_deletion_impact(task=waiting).anything
    assert Task.objects.filter(project=project).count() == 5


def requirement_codes(project) -> list[str]:
    return [r.code for r in selectors.requirement_list(project=project)]


def test_a_requirement_moves_in_its_projects_order_writing_one_row(
    project, other_project, django_assert_max_num_queries
):
    requirements = [
        RequirementFactory(project=project, code=f"R{i}", position=(i + 1) * 1024) for i in range(4)
    ]
    elsewhere = RequirementFactory(project=other_project, code="R0", position=1536)
    untouched = Requirement.objects.get(pk=requirements[0].pk).updated_at

    # The lock, the order, the one row (in a savepoint): whatever the number of requirements.
    with django_assert_max_num_queries(5) as captured:
        plan_edits.requirement_reorder(requirement=requirements[3], offset=-2)

    assert [q["sql"].split()[0] for q in captured.captured_queries].count("UPDATE") == 1

    assert requirement_codes(project) == ["R0", "R3", "R1", "R2"]
    assert Requirement.objects.get(pk=requirements[3].pk).position == 1536
    assert Requirement.objects.get(pk=requirements[0].pk).updated_at == untouched
    elsewhere.refresh_from_db()
    assert elsewhere.position == 1536
    plan_edits.requirement_reorder(requirement=requirements[0], index=99)
    assert requirement_codes(project) == ["R3", "R1", "R2", "R0"]


def test_requirements_without_room_between_them_are_renumbered_in_one_statement(
    project, django_assert_max_num_queries
):
    # Rows made before requirements had places, or imported without them: all 0.
    for code in ("R1", "R2", "R3", "R4", "R5"):
        RequirementFactory(project=project, code=code, position=0)
    last = Requirement.objects.get(project=project, code="R5")

    with django_assert_max_num_queries(7) as captured:
        plan_edits.requirement_reorder(requirement=last, index=1)

    # The renumbering, then the moved row.
    assert [q["sql"].split()[0] for q in captured.captured_queries].count("UPDATE") == 2

    assert requirement_codes(project) == ["R1", "R5", "R2", "R3", "R4"]
    positions = [r.position for r in selectors.requirement_list(project=project)]
    assert positions == sorted(set(positions))


def test_a_new_requirement_comes_last_and_every_list_follows_the_order(project):
    feature = FeatureFactory(project=project, key="01")
    services.requirement_create(project=project, code="B", description="Second")
    services.requirement_create(project=project, code="A", description="First", features=[feature])
    assert requirement_codes(project) == ["B", "A"]
    plan_edits.requirement_reorder(
        requirement=Requirement.objects.get(project=project, code="A"), index=0
    )

    document = selectors.plan_document(project=project)
    assert [r.code for r in document.requirements] == ["A", "B"]
    assert [r.code for r in coverage.requirement_coverage(project=project)] == ["A", "B"]
    markdown = render_markdown(document)
    assert markdown.index("**A**") < markdown.index("**B**")


def test_a_version_keeps_the_requirements_order_and_a_restore_brings_it_back(project, user):
    for code in ("R1", "R2", "R3"):
        services.requirement_create(project=project, code=code, description=code)
    version = version_create(project=project, actor=user, summary="before", only_if_changed=False)
    plan_edits.requirement_reorder(
        requirement=Requirement.objects.get(project=project, code="R3"), index=0
    )
    assert requirement_codes(project) == ["R3", "R1", "R2"]

    version_restore(version=version, actor=user)

    assert requirement_codes(project) == ["R1", "R2", "R3"]


def test_deleting_plan_rows_moves_the_plan_stamp(project):
    """The stamp reads the latest updated_at, which a deletion leaves as it was: every
    service that deletes rows touches the project instead."""
    feature = FeatureFactory(project=project)
    sub = SubFeatureFactory(feature=feature)
    tasks = [TaskFactory(project=project, key=f"T{i}") for i in range(3)]
    TaskFactory(project=project, feature=feature, sub_feature=sub, key="S1")

    for delete in (
        lambda: services.task_delete(task=tasks[0]),
        lambda: services.sub_feature_delete(sub_feature=sub),
        lambda: services.feature_delete(feature=feature),
    ):
        stamp = outline.plan_stamp(project=project)
        delete()
        assert outline.plan_stamp(project=project) != stamp
