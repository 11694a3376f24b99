"""Claiming the next ready task for an agent: the one write agents make to the plan on
their hot path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict, cast

from django.db import connection
from django_stubs_ext import WithAnnotations

from core.db import instance_from_row, prepared_cursor
from planning.models import Feature, SubFeature, Task
from planning.services.rollup import plan_status_task_started
from planning.statements import CLAIMED_TASK_FIELDS, CLAIMING_AGENT, claim_statements


class DependencyCount(TypedDict):
    dependency_count: int


@dataclass(frozen=True)
class ClaimedTask:
    """A task just claimed, with `dependency_count` set and its feature and sub-feature
    loaded with their keys and statuses (as they were before the claim) only;
    `earlier_runs` is how many runs it had before."""

    task: WithAnnotations[Task, DependencyCount]
    earlier_runs: int


def task_claim_next(*, project_id: int, agent_id: int, now: datetime) -> ClaimedTask | None:
    """Claim the best claimable task of the project for the agent: set it in progress and
    assigned to the agent, inside the caller's transaction (which keeps it locked
    until it commits). Returns None when no task is ready.

    The order is task_next_ready's, and a task assigned to an agent goes to no other
    agent (see planning.statements). Concurrent claims skip each other's tasks on
    PostgreSQL; SQLite serialises them. `checkpoint:*` tasks are never claimed. A
    waiting feature or sub-feature of the task goes in progress (the status roll-up).
    """
    at = connection.ops.adapt_datetimefield_value(now)
    with prepared_cursor() as cursor:
        for sql, params in claim_statements(project_id):
            params = tuple(agent_id if p == CLAIMING_AGENT else p for p in params)
            cursor.execute(sql, (Task.Status.IN_PROGRESS.value, agent_id, at, at, *params))
            row = cursor.fetchone()
            if row is not None:
                break
        else:
            return None
    *columns, earlier_runs, dependency_count, feature_key, feature_status, sub_key, sub_status = row
    # The count rides on the task as a queryset's annotation would.
    task = cast(
        "WithAnnotations[Task, DependencyCount]",
        instance_from_row(Task, CLAIMED_TASK_FIELDS, columns),
    )
    task.dependency_count = dependency_count
    if task.feature_id is not None:
        task.feature = Feature.from_db(
            connection.alias,
            ["id", "key", "status"],
            [task.feature_id, feature_key, feature_status],
        )
    if task.sub_feature_id is not None:
        task.sub_feature = SubFeature.from_db(
            connection.alias, ["id", "key", "status"], [task.sub_feature_id, sub_key, sub_status]
        )
    plan_status_task_started(
        project_id=project_id,
        feature_id=task.feature_id,
        sub_feature_id=task.sub_feature_id,
        feature_status=feature_status,
        sub_feature_status=sub_status,
    )
    return ClaimedTask(task=task, earlier_runs=earlier_runs)
