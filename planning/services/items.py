"""Requirements, features, sub-features and their dependency edges, one at a time, and
the checks every edit of the plan shares (one project, the plan's lock, a cycle's
message). Tasks are in planning.services.task_items."""

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.services import model_update
from planning import selectors
from planning.graph import cycle_closed_by
from planning.models import (
    Feature,
    Project,
    Requirement,
    SubFeature,
    SubFeatureDependency,
)
from planning.services._common import PlanError, plan_rows_deleted
from planning.services.external import external_dependencies_sync
from planning.services.rollup import plan_status_rollup

REQUIREMENT_FIELDS = (
    "code",
    "category",
    "description",
    "priority",
    "source",
    "validated",
    "position",
)
FEATURE_FIELDS = ("key", "name", "description", "priority", "status", "position")
SUB_FEATURE_FIELDS = (
    "key",
    "name",
    "objective",
    "status",
    "wave",
    "autonomous",
    "files_modified",
    "must_haves",
    "extra",
    "position",
)


def _check_same_project(project: Project, objects: Iterable[Any], what: str) -> None:
    for obj in objects:
        if obj is not None and obj.project_id != project.id:
            raise PlanError(f"{what} {obj} belongs to another project.", field=what)


@transaction.atomic
def requirement_create(
    *, project: Project, description: str, features: Iterable[Feature] = (), **fields: Any
) -> Requirement:
    """A requirement of `project`, last in its order unless `position` says where."""
    features = list(features)
    _check_same_project(project, features, "features")
    if "position" not in fields:
        last = project.requirements.aggregate(last=Max("position"))["last"]
        fields["position"] = 0 if last is None else last + 1
    requirement = Requirement(project=project, description=description)
    model_update(instance=requirement, data=fields, allowed=REQUIREMENT_FIELDS)
    requirement.features.set(features)
    return requirement


@transaction.atomic
def requirement_update(
    *,
    requirement: Requirement,
    data: Mapping[str, Any],
    features: Iterable[Feature] | None = None,
) -> Requirement:
    model_update(instance=requirement, data=data, allowed=REQUIREMENT_FIELDS)
    if features is not None:
        features = list(features)
        _check_same_project(requirement.project, features, "features")
        requirement.features.set(features)
    return requirement


@transaction.atomic
def feature_create(*, project: Project, key: str, name: str, **fields: Any) -> Feature:
    feature = Feature(project=project, key=key, name=name)
    model_update(instance=feature, data=fields, allowed=FEATURE_FIELDS)
    return feature


@transaction.atomic
def feature_update(*, feature: Feature, data: Mapping[str, Any]) -> Feature:
    model_update(instance=feature, data=data, allowed=FEATURE_FIELDS)
    return feature


@transaction.atomic
def sub_feature_create(
    *,
    feature: Feature,
    key: str,
    name: str,
    depends_on: Iterable[SubFeature] = (),
    requirements: Iterable[Requirement] = (),
    **fields: Any,
) -> SubFeature:
    project = feature.project
    sub = SubFeature(project=project, feature=feature, key=key, name=name)
    model_update(instance=sub, data=fields, allowed=SUB_FEATURE_FIELDS)
    _set_sub_feature_links(sub, depends_on=depends_on, requirements=requirements)
    if "extra" in fields:
        external_dependencies_sync(sub_features=[sub])
    return sub


@transaction.atomic
def sub_feature_update(
    *,
    sub_feature: SubFeature,
    data: Mapping[str, Any],
    feature: Feature | None = None,
    depends_on: Iterable[SubFeature] | None = None,
    requirements: Iterable[Requirement] | None = None,
) -> SubFeature:
    """Change a sub-feature; a new wave is carried down to its tasks, and a move to
    another feature takes them along (both features' statuses are rolled up)."""
    old_feature_id = sub_feature.feature_id

    def derive(changed: list[str]) -> list[str]:
        if feature is not None and feature.pk != sub_feature.feature_id:
            _check_same_project(sub_feature.project, [feature], "feature")
            sub_feature.feature = feature
            changed.append("feature")
            sub_feature.tasks.update(feature=feature, updated_at=timezone.now())
        return changed

    _, changed = model_update(
        instance=sub_feature, data=data, allowed=SUB_FEATURE_FIELDS, derive=derive
    )
    if "wave" in changed:
        sub_feature.tasks.update(wave=sub_feature.wave, updated_at=timezone.now())
    if "feature" in changed:
        plan_status_rollup(
            project_id=sub_feature.project_id,
            task_ids=(),
            feature_ids=(old_feature_id, sub_feature.feature_id),
        )
    _set_sub_feature_links(sub_feature, depends_on=depends_on, requirements=requirements)
    if "extra" in changed:
        external_dependencies_sync(sub_features=[sub_feature])
    return sub_feature


def _set_sub_feature_links(
    sub: SubFeature,
    *,
    depends_on: Iterable[SubFeature] | None,
    requirements: Iterable[Requirement] | None,
) -> None:
    if requirements is not None:
        requirements = list(requirements)
        _check_same_project(sub.project, requirements, "requirements")
        sub.requirements.set(requirements)
    if depends_on is None:
        return
    depends_on = list(depends_on)
    _check_same_project(sub.project, depends_on, "depends_on")
    _lock_plan(sub.project)
    graph = selectors.sub_feature_dependency_graph(project=sub.project)
    graph[sub.id] = set()
    keys = dict(sub.project.sub_features.values_list("id", "key"))
    for target in depends_on:
        cycle = cycle_closed_by(graph, sub.id, target.id)
        if cycle:
            raise PlanError(_cycle_message(cycle, keys), field="depends_on")
        graph[sub.id].add(target.id)
    SubFeatureDependency.objects.filter(sub_feature=sub).delete()
    SubFeatureDependency.objects.bulk_create(
        SubFeatureDependency(sub_feature=sub, depends_on=target) for target in depends_on
    )


def _lock_plan(project: Project) -> None:
    # Serialises concurrent graph edits of one project (PostgreSQL; SQLite locks the database).
    # NO KEY: an insert elsewhere in the project still takes its foreign key's share lock
    # on the row at commit, so it never deadlocks against this one.
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()


def _cycle_message(cycle: list[int], keys: Mapping[int, str]) -> str:
    return "This dependency would close a cycle: " + " -> ".join(keys[i] for i in cycle)


@transaction.atomic
def requirement_delete(*, requirement: Requirement) -> None:
    requirement.delete()


@transaction.atomic
def feature_delete(*, feature: Feature) -> None:
    """Delete a feature with its sub-features and tasks (the project may be finished
    without them)."""
    project_id, task_ids = feature.project_id, list(feature.tasks.values_list("pk", flat=True))
    feature.delete()
    plan_rows_deleted(project_id=project_id)
    plan_status_rollup(project_id=project_id, task_ids=task_ids)


@transaction.atomic
def sub_feature_delete(*, sub_feature: SubFeature) -> None:
    """Delete a sub-feature with its tasks, and roll up its feature and project."""
    project_id, feature_id = sub_feature.project_id, sub_feature.feature_id
    task_ids = list(sub_feature.tasks.values_list("pk", flat=True))
    sub_feature.delete()
    plan_rows_deleted(project_id=project_id)
    plan_status_rollup(project_id=project_id, task_ids=task_ids, feature_ids=[feature_id])
