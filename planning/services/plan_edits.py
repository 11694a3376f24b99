"""Edits the plan page makes beside the item services: moving a feature, sub-feature,
task or requirement among its siblings, and linking requirements to features one at a
time."""

from typing import TypeVar

from django.db import models, transaction
from django.utils import timezone

from planning import outline, page_statements, selectors
from planning.models import Feature, Requirement, SubFeature, Task
from planning.services._common import PlanError
from planning.services.items import _check_same_project, _lock_plan

Item = TypeVar("Item", Feature, SubFeature, Task, Requirement)
# The distance between neighbours when a group is renumbered: room for ten moves into the
# same gap before the next renumbering.
POSITION_GAP = 1024


def _reorder(siblings: models.QuerySet[Item], item: Item, index: int | None, offset: int) -> int:
    """Put `item` at `index` among `siblings` (or `offset` places from where it is, when
    no index is given). It takes a position between its new neighbours', so one row is
    written; when they leave no room (an imported group's positions are all 0), the group
    is first renumbered POSITION_GAP apart in one statement. Returns the item's index."""
    _lock_plan(item.project)
    rows = list(siblings.values_list("pk", "position"))
    order = [pk for pk, _ in rows]
    if item.pk not in order:
        raise PlanError(f"{item} is not among the items it is moved between.")
    current = order.index(item.pk)
    target = index if index is not None else current + offset
    target = max(0, min(target, len(order) - 1))
    if target == current:
        return current
    now = timezone.now()
    positions = dict(rows)
    position = _between(positions, order, current, target)
    if position is None:
        page_statements.positions_renumber(siblings, gap=POSITION_GAP, now=now)
        positions = {pk: (n + 1) * POSITION_GAP for n, pk in enumerate(order)}
        position = _between(positions, order, current, target)
        assert position is not None
    # updated_at moves the plan's change stamp, so live pages learn of the new order.
    type(item)._default_manager.filter(pk=item.pk).update(position=position, updated_at=now)
    item.position = position
    return target


def _between(positions: dict[int, int], order: list[int], current: int, target: int) -> int | None:
    """A position that puts the item at `target` once taken out of `current`: strictly
    between its new neighbours' (ties sort by key, so an equal one would not do), or
    None when there is no whole number between them."""
    rest = order[:current] + order[current + 1 :]
    low = positions[rest[target - 1]] if target > 0 else -1
    if target == len(rest):
        return low + POSITION_GAP
    high = positions[rest[target]]
    return (low + high) // 2 if high - low >= 2 else None


@transaction.atomic
def feature_reorder(*, feature: Feature, index: int | None = None, offset: int = 0) -> Feature:
    """Move a feature to `index` in the plan's order, or `offset` places up (-) or down (+).
    An index past either end puts it first or last."""
    siblings = outline.feature_outline(project=feature.project)
    _reorder(siblings, feature, index, offset)
    return feature


@transaction.atomic
def sub_feature_reorder(
    *, sub_feature: SubFeature, index: int | None = None, offset: int = 0
) -> SubFeature:
    """Move a sub-feature among its feature's sub-features (as feature_reorder)."""
    siblings = SubFeature.objects.filter(feature_id=sub_feature.feature_id).order_by(
        "position", "key"
    )
    _reorder(siblings, sub_feature, index, offset)
    return sub_feature


@transaction.atomic
def task_reorder(*, task: Task, index: int | None = None, offset: int = 0) -> Task:
    """Move a task among the tasks of its group, as the plan page shows them: its
    sub-feature's, its feature's outside any sub-feature, or those outside any feature."""
    kind, pk, _ = outline.task_group_position(task=task)
    siblings = outline.task_group(project=task.project, kind=kind, pk=pk)
    _reorder(siblings, task, index, offset)
    return task


@transaction.atomic
def requirement_reorder(
    *, requirement: Requirement, index: int | None = None, offset: int = 0
) -> Requirement:
    """Move a requirement among its project's requirements, as the Requirements tab lists
    them (as feature_reorder)."""
    siblings = selectors.requirement_order(project=requirement.project)
    _reorder(siblings, requirement, index, offset)
    return requirement


@transaction.atomic
def requirement_link_feature(*, requirement: Requirement, feature: Feature) -> Requirement:
    """Record that `feature` delivers `requirement` (linking twice changes nothing).

    Raises PlanError when the feature belongs to another project."""
    _check_same_project(requirement.project, [feature], "feature")
    requirement.features.add(feature)
    Requirement.objects.filter(pk=requirement.pk).update(updated_at=timezone.now())
    return requirement


@transaction.atomic
def requirement_unlink_feature(*, requirement: Requirement, feature: Feature) -> Requirement:
    """Drop the link between `requirement` and `feature` (if there is one)."""
    requirement.features.remove(feature)
    Requirement.objects.filter(pk=requirement.pk).update(updated_at=timezone.now())
    return requirement
