"""Tasks and their dependency edges, one at a time: created in their place, changed
(status, place, agent), linked and deleted, each rolled up into the features,
sub-features and project it touches. Requirements, features and sub-features are in
planning.services.items.
"""

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from django.db import transaction
from django.utils import timezone

from core.errors import ConflictError
from core.services import model_update
from planning import selectors
from planning.graph import cycle_closed_by
from planning.models import Feature, Project, SubFeature, Task, TaskDependency
from planning.services._common import PlanError, plan_rows_deleted
from planning.services.items import _check_same_project, _cycle_message, _lock_plan
from planning.services.rollup import plan_status_rollup


class TaskPlacement(TypedDict, total=False):
    """Where `task_update` moves a task; a key left out keeps the task's current one."""

    feature: Feature | None
    sub_feature: SubFeature | None


TASK_FIELDS = (
    "key",
    "name",
    "description",
    "files",
    "verify",
    "done_criteria",
    "type",
    "status",
    "size",
    "priority",
    "complexity",
    "position",
    "extra",
    "assigned_agent",
    "worktree_path",
    "branch_name",
    "qa_iterations",
    "max_iterations",
    "estimated_minutes",
    "actual_minutes",
)


def _place_task(task: Task, *, feature: Feature | None, sub_feature: SubFeature | None) -> None:
    _check_same_project(task.project, [feature, sub_feature], "feature")
    if sub_feature is not None:
        if feature is not None and feature.pk != sub_feature.feature_id:
            raise PlanError(
                f"Sub-feature {sub_feature.key} is not part of feature {feature.key}.",
                field="sub_feature",
            )
        task.feature_id = sub_feature.feature_id
        task.wave = sub_feature.wave
    else:
        task.feature = feature
    task.sub_feature = sub_feature


def _check_assignable(task: Task) -> None:
    agent = task.assigned_agent
    if agent is None:
        return
    _check_same_project(task.project, [agent], "assigned_agent")
    if agent.status == type(agent).Status.TERMINATED:
        raise PlanError(
            f"Agent {agent.name} is terminated; tasks cannot be assigned to it.",
            field="assigned_agent",
        )


@transaction.atomic
def task_create(
    *,
    project: Project,
    key: str,
    name: str,
    feature: Feature | None = None,
    sub_feature: SubFeature | None = None,
    depends_on: Iterable[Task] = (),
    parent: Task | None = None,
    **fields: Any,
) -> Task:
    """Create a task. A task inside a sub-feature takes its feature and wave; a subtask
    (`parent` given) takes its parent's place.

    Raises PlanError for links into another project, a dependency cycle, or a parent that
    is itself a subtask.
    """
    task = Task(project=project, key=key, name=name)
    wave = fields.pop("wave", None)
    if parent is not None:
        _check_same_project(project, [parent], "parent")
        if parent.parent_id is not None:
            raise PlanError(
                f"{parent.key} is a subtask: subtasks are one level deep.", field="parent"
            )
        task.parent = parent
        feature, sub_feature = parent.feature, parent.sub_feature

    def derive(changed: list[str]) -> list[str]:
        _place_task(task, feature=feature, sub_feature=sub_feature)
        if wave is not None and sub_feature is None:
            task.wave = wave
        _check_assignable(task)
        _stamp_status_times(task)
        return changed

    model_update(instance=task, data=fields, allowed=TASK_FIELDS, derive=derive)
    for target in depends_on:
        task_add_dependency(task=task, depends_on=target)
    # A new task reopens a done sub-feature, feature or project.
    plan_status_rollup(project_id=project.pk, task_ids=[task.pk])
    return task


@transaction.atomic
def task_update(
    *,
    task: Task,
    data: Mapping[str, Any],
    placement: TaskPlacement | None = None,
) -> Task:
    """Change a task's fields, and its feature/sub-feature when `placement` is given.

    A task moved back to pending loses its agent unless `data` assigns one: an
    assignment on a pending task reserves it for that agent. A new status or place is
    rolled up into the features and sub-features it leaves and joins, and the project.
    """
    data = dict(data)
    wave = data.pop("wave", None)
    was_in = (task.feature_id, task.sub_feature_id)

    def derive(changed: list[str]) -> list[str]:
        if (
            "status" in changed
            and task.status == Task.Status.PENDING
            and "assigned_agent" not in data
            and task.assigned_agent_id is not None
        ):
            task.assigned_agent = None
            changed.append("assigned_agent")
        if placement is not None:
            _place_task(
                task,
                feature=placement.get("feature", task.feature),
                sub_feature=placement.get("sub_feature", task.sub_feature),
            )
            changed += ["feature", "sub_feature", "wave"]
        if wave is not None and task.sub_feature_id is None and wave != task.wave:
            task.wave = wave
            changed.append("wave")
        if "assigned_agent" in changed:
            _check_assignable(task)
        if "status" in changed:
            changed += _stamp_status_times(task)
        return changed

    _, changed = model_update(instance=task, data=data, allowed=TASK_FIELDS, derive=derive)
    moved = was_in != (task.feature_id, task.sub_feature_id)
    if "status" in changed or moved:
        plan_status_rollup(
            project_id=task.project_id,
            task_ids=[task.pk],
            feature_ids=[was_in[0]] if moved and was_in[0] else [],
            sub_feature_ids=[was_in[1]] if moved and was_in[1] else [],
        )
    return task


def task_set_status(*, task: Task, status: str) -> Task:
    """Move a task to `status`, stamping started_at/completed_at as it goes."""
    return task_update(task=task, data={"status": status})


def _stamp_status_times(task: Task) -> list[str]:
    now = timezone.now()
    changed = []
    if task.status == Task.Status.IN_PROGRESS and task.started_at is None:
        task.started_at = now
        changed.append("started_at")
    if task.status == Task.Status.DONE and task.completed_at is None:
        task.completed_at = max(now, task.started_at) if task.started_at else now
        changed.append("completed_at")
    if task.status != Task.Status.DONE and task.completed_at is not None:
        task.completed_at = None
        changed.append("completed_at")
    return changed


@transaction.atomic
def task_add_dependency(*, task: Task, depends_on: Task) -> TaskDependency:
    """Record that `task` waits for `depends_on`.

    Raises PlanError naming the cycle (`A -> B -> A`) when the edge would close one,
    and ConflictError when the edge already exists.
    """
    if task.project_id != depends_on.project_id:
        raise PlanError("A task can only depend on tasks of the same project.", field="depends_on")
    if task.pk == depends_on.pk:
        raise PlanError(f"{task.key} cannot depend on itself.", field="depends_on")
    _lock_plan(task.project)
    graph = selectors.task_dependency_graph(project=task.project)
    if depends_on.pk in graph.get(task.pk, ()):
        raise ConflictError(f"{task.key} already depends on {depends_on.key}.")
    cycle = cycle_closed_by(graph, task.pk, depends_on.pk)
    if cycle:
        keys = dict(Task.objects.filter(pk__in=cycle).values_list("id", "key"))
        raise PlanError(_cycle_message(cycle, keys), field="depends_on")
    edge = TaskDependency.objects.create(task=task, depends_on=depends_on)
    _touch_task(task.pk)
    return edge


@transaction.atomic
def task_remove_dependency(*, edge: TaskDependency) -> None:
    edge.delete()
    _touch_task(edge.task_id)


def _touch_task(task_id: int) -> None:
    # What a task waits on changes what is ready: live pages learn of it by the task's
    # updated_at (planning.outline.plan_stamp).
    Task.objects.filter(pk=task_id).update(updated_at=timezone.now())


@transaction.atomic
def task_delete(*, task: Task) -> None:
    """Delete a task; its feature, sub-feature and project may be finished without it."""
    task_id, feature_id, sub_feature_id = task.pk, task.feature_id, task.sub_feature_id
    task.delete()
    plan_rows_deleted(project_id=task.project_id)
    plan_status_rollup(
        project_id=task.project_id,
        task_ids=[task_id],
        feature_ids=[feature_id] if feature_id else [],
        sub_feature_ids=[sub_feature_id] if sub_feature_id else [],
    )
