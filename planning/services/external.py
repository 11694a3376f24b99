"""External dependencies: a plan's `depends_on` that names a plan outside the project.

This module is the one owner of their life. Importing a plan creates them from the
references the importer kept (`extra["external_depends_on"]`) and removes the ones a
plan no longer names; a person marks one satisfied (or not again). While one is not
satisfied, the plan's tasks are not ready: `next` does not offer them and agents cannot
claim them (planning.selectors).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from planning import shapes
from planning.models import ExternalDependency, SubFeature


def external_dependencies_sync(*, sub_features: Iterable[SubFeature]) -> None:
    """Make each plan's external dependencies the references its `extra` keeps. One kept
    keeps its satisfied state; a reference a plan no longer names is removed."""
    wanted: set[tuple[int, str]] = set()
    plan_ids = []
    for sub in sub_features:
        plan_ids.append(sub.pk)
        extra = shapes.SUB_FEATURE_EXTRA.tolerant(sub.extra, default=dict, where=f"plan {sub.key}")
        wanted |= {(sub.pk, ref) for ref in extra.get("external_depends_on", [])}
    existing = {
        (sub_id, ref): pk
        for pk, sub_id, ref in ExternalDependency.objects.filter(
            sub_feature_id__in=plan_ids
        ).values_list("pk", "sub_feature_id", "reference")
    }
    stale = [pk for pair, pk in existing.items() if pair not in wanted]
    if stale:
        ExternalDependency.objects.filter(pk__in=stale).delete()
    ExternalDependency.objects.bulk_create(
        [
            ExternalDependency(sub_feature_id=sub_id, reference=ref)
            for sub_id, ref in sorted(wanted - existing.keys())
        ],
        batch_size=1000,
    )


@transaction.atomic
def external_dependency_set_satisfied(
    *, dependency: ExternalDependency, actor: User, satisfied: bool = True
) -> ExternalDependency:
    """Mark `dependency` satisfied by `actor` (its plan's tasks may become ready), or not
    satisfied again. Marking it as it already is changes nothing."""
    locked = ExternalDependency.objects.select_for_update().get(pk=dependency.pk)
    if locked.satisfied != satisfied:
        locked.satisfied_at = timezone.now() if satisfied else None
        locked.satisfied_by = actor if satisfied else None
        locked.save(update_fields=["satisfied_at", "satisfied_by"])
        # What is ready changed without a task saved: move the plan's change stamp, which
        # live pages and the analytics cache are keyed on.
        SubFeature.objects.filter(pk=locked.sub_feature_id).update(updated_at=timezone.now())
    return locked
