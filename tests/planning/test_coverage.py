"""Which requirements the plan covers: through a task of a linked feature, or of a
sub-feature that names the requirement; counted in one query, listed a page at a time."""

import pytest

from planning import coverage
from planning.models import Requirement, Task
from tests.factories import FeatureFactory, RequirementFactory, SubFeatureFactory, TaskFactory

pytestmark = pytest.mark.django_db


def covered_codes(project, **kwargs) -> dict[str, bool]:
    return {r.code: r.covered for r in coverage.requirement_coverage(project=project, **kwargs)}


def test_a_requirement_is_covered_by_a_task_of_a_linked_feature_or_sub_feature(project):
    by_feature, by_sub, linked_empty, _ = (
        RequirementFactory(project=project, code=code) for code in ("R1", "R2", "R3", "R4")
    )
    feature = FeatureFactory(project=project)
    TaskFactory(project=project, feature=feature, key="F-T1")
    by_feature.features.add(feature)
    sub = SubFeatureFactory(project=project)
    TaskFactory(project=project, feature=sub.feature, sub_feature=sub, key="S-T1")
    sub.requirements.add(by_sub)
    linked_empty.features.add(FeatureFactory(project=project))  # a feature with no task

    assert covered_codes(project) == {"R1": True, "R2": True, "R3": False, "R4": False}
    assert covered_codes(project, uncovered_only=True) == {"R3": False, "R4": False}
    counts = coverage.coverage_counts(project=project)
    assert (counts.total, counts.uncovered) == (4, 2)


def test_coverage_of_many_requirements_costs_the_same_queries(project, django_assert_num_queries):
    feature = FeatureFactory(project=project)
    TaskFactory(project=project, feature=feature)
    requirements = Requirement.objects.bulk_create(
        Requirement(project=project, code=f"R{i:04d}", description=f"Need {i}") for i in range(500)
    )
    Requirement.features.through.objects.bulk_create(
        Requirement.features.through(requirement_id=r.pk, feature_id=feature.pk)
        for r in requirements[::2]
    )

    with django_assert_num_queries(3):  # the rows, their features, the counts
        rows = list(coverage.requirement_coverage(project=project))
        [list(r.features.all()) for r in rows]
        counts = coverage.coverage_counts(project=project)

    assert (counts.total, counts.uncovered) == (500, 250)
    assert sum(r.covered for r in rows) == 250
    assert Task.objects.count() == 1
