"""Which requirements the plan covers: a requirement is covered when a task delivers it,
that is a task of a feature linked to it, or of a sub-feature that names it. Read a
page at a time, so the requirements page costs the same number of queries whatever the
number of requirements."""

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from planning.models import Feature, Project, Requirement, SubFeature, Task
from planning.selectors import REQUIREMENT_ORDER


@dataclass(frozen=True)
class CoverageCounts:
    total: int
    uncovered: int


def _covered() -> Exists:
    # Link rows first, then one index probe into tasks for each: joining tasks to their
    # features and the links made PostgreSQL scan every task once per requirement.
    feature_links = Requirement.features.through.objects.filter(
        requirement_id=OuterRef("pk")
    ).filter(Exists(Task.objects.filter(feature_id=OuterRef("feature_id"))))
    sub_feature_links = SubFeature.requirements.through.objects.filter(
        requirement_id=OuterRef("pk")
    ).filter(Exists(Task.objects.filter(sub_feature_id=OuterRef("subfeature_id"))))
    return Exists(feature_links) | Exists(sub_feature_links)  # type: ignore[return-value]


def requirement_coverage(
    *, project: Project, uncovered_only: bool = False
) -> QuerySet[Requirement]:
    """The project's requirements in their order, each with `covered` (whether any task
    delivers it) and its linked features in plan order (prefetched: one query a page)."""
    requirements = (
        project.requirements.annotate(covered=_covered())
        .prefetch_related(
            Prefetch(
                "features",
                queryset=Feature.objects.order_by("position", "key"),
            )
        )
        .order_by(*REQUIREMENT_ORDER)
    )
    if uncovered_only:
        requirements = requirements.filter(covered=False)
    return requirements


def coverage_counts(*, project: Project) -> CoverageCounts:
    """How many requirements the project has, and how many no task covers (one query)."""
    row = (
        project.requirements.annotate(covered=_covered())
        .order_by()
        .aggregate(
            total=Count("pk"),
            uncovered=Count("pk", filter=Q(covered=False)),
        )
    )
    return CoverageCounts(total=row["total"], uncovered=row["uncovered"])


def linkable_features(*, project: Project) -> QuerySet[Feature]:
    """The features a requirement can be linked to, for the link form's choices."""
    return project.features.order_by("position", "key")


def requirement_link_count(*, requirement: Requirement) -> tuple[int, int]:
    """The features and sub-features linked to `requirement`: what its deletion unlinks."""
    return requirement.features.count(), requirement.sub_features.count()
