"""Claiming the next ready task for an agent: the one write agents make to the plan on
their hot path."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, cast

from django.db import connection
from django_stubs_ext import WithAnnotations

from core.db import instance_from_row, prepared_cursor
from planning import shapes
from planning.models import Feature, SubFeature, Task
from planning.services.rollup import plan_status_task_started
from planning.statements import (
    CLAIMED_PLAN_FIELDS,
    CLAIMED_TASK_FIELDS,
    CLAIMING_AGENT,
    FILE_LOCK,
    FILE_LOCK_SPACE,
    claim_statements,
)


class ClaimFilesTaken(Exception):
    """The claimed task names a file that a task started by a concurrent transaction
    names too. The claim's transaction must roll back and claim again: the claim then
    passes that task by."""


class DependencyCount(TypedDict):
    dependency_count: int
    # Their keys, in the tasks' order: what `depends_on.values_list("key")` lists.
    dependency_keys: list[str]


@dataclass(frozen=True)
class ClaimedTask:
    """A task just claimed, with `dependency_count` and `dependency_keys` set, its
    feature loaded with its key and status only, and its sub-feature with
    planning.statements.CLAIMED_PLAN_FIELDS only (as they were before the claim);
    `earlier_runs` is how many runs it had before."""

    task: WithAnnotations[Task, DependencyCount]
    earlier_runs: int


def task_claim_next(*, project_id: int, agent_id: int, now: datetime) -> ClaimedTask | None:
    """Claim the best claimable task of the project for the agent: set it in progress and
    assigned to the agent, inside the caller's transaction (which keeps it locked
    until it commits). Returns None when no task is ready.

    The order is task_next_ready's, and a task assigned to an agent goes to no other
    agent (see planning.statements). Concurrent claims skip each other's tasks on
    PostgreSQL; SQLite serialises them. `checkpoint:*` tasks are never claimed, nor tasks
    that name a file a task in progress names. A waiting feature or sub-feature of the
    task goes in progress (the status roll-up).

    Raises ClaimFilesTaken when a concurrent transaction started a task sharing a file
    with the one claimed: roll back, and claim again.
    """
    row = _claim_row(project_id=project_id, agent_id=agent_id, now=now)
    if row is None:
        return None
    *columns, earlier_runs, dependency_keys, feature_key, feature_status, plan = row
    # The count rides on the task as a queryset's annotation would.
    task = cast(
        "WithAnnotations[Task, DependencyCount]",
        instance_from_row(Task, CLAIMED_TASK_FIELDS, columns),
    )
    if isinstance(dependency_keys, str):  # JSON may come as text
        dependency_keys = json.loads(dependency_keys)
    task.dependency_keys = [str(key) for key in dependency_keys]
    task.dependency_count = len(task.dependency_keys)
    if task.feature_id is not None:
        task.feature = Feature.from_db(
            connection.alias,
            ["id", "key", "status"],
            [task.feature_id, feature_key, feature_status],
        )
    sub_status = None
    if task.sub_feature_id is not None and plan is not None:
        values = json.loads(plan) if isinstance(plan, str) else plan  # JSON may come as text
        task.sub_feature = SubFeature.from_db(
            connection.alias,
            ["id", *(field.attname for field in CLAIMED_PLAN_FIELDS)],
            [task.sub_feature_id, *values],
        )
        sub_status = task.sub_feature.status
    plan_status_task_started(
        project_id=project_id,
        feature_id=task.feature_id,
        sub_feature_id=task.sub_feature_id,
        feature_status=feature_status,
        sub_feature_status=sub_status,
    )
    return ClaimedTask(task=task, earlier_runs=earlier_runs)


def _claim_row(*, project_id: int, agent_id: int, now: datetime) -> tuple[Any, ...] | None:
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
    files_at = CLAIMED_TASK_FIELDS.index(Task._meta.get_field("files"))
    id_at = CLAIMED_TASK_FIELDS.index(Task._meta.get_field("id"))
    files = row[files_at]
    if isinstance(files, str):  # JSON comes back as text
        files = json.loads(files)
    if not task_files_reserve(project_id=project_id, task_id=row[id_at], files=files):
        raise ClaimFilesTaken(f"Task {row[id_at]}'s files were taken by a concurrent claim.")
    return tuple(row)


def normalised_file(path: object) -> str:
    """A task's file path as overlaps are judged: trimmed, without a leading `./` or
    trailing slashes (planning.statements.files_free_sql does the same in SQL)."""
    return str(path).strip().removeprefix("./").rstrip("/")


def task_files(files: object) -> set[str]:
    """The normalised, non-empty paths of a task's `files` value."""
    shaped = shapes.TASK_FILES.tolerant(files, default=list, where="a task")
    return {name for name in map(normalised_file, shaped) if name}


def task_files_reserve(*, project_id: int, task_id: int, files: object) -> bool:
    """Whether the task may be worked on now that no other task in progress names one of
    its files; inside the transaction that puts it in progress (see tasks_files_reserve).
    """
    return task_id in tasks_files_reserve(project_id=project_id, files_by_task={task_id: files})


def tasks_files_reserve(*, project_id: int, files_by_task: Mapping[int, object]) -> set[int]:
    """Which of the tasks (their ids, with their `files`) may be worked on now: those
    naming no file that a task in progress (other than these) names; inside the
    transaction that puts them in progress. Tasks starting together must not share files
    with each other: that is the caller's to ensure.

    On PostgreSQL the files of all of them are locked first, in one call and in one
    order (advisory locks held until the transaction ends), then checked: of two
    transactions starting tasks that share a file, the second waits for the first to end
    and then sees its task in progress. A transaction that locked files for one task and
    then for another could deadlock with one locking the same files in the opposite
    order, so every caller locks all the files it needs at once. SQLite runs one writer
    at a time, so the check alone suffices there.
    """
    wanted = {task_id: task_files(files) for task_id, files in files_by_task.items()}
    everything = {name for mine in wanted.values() for name in mine}
    if not everything:
        return set(wanted)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for key in sorted({_file_lock_key(project_id, name) for name in everything}):
                cursor.execute(FILE_LOCK, (FILE_LOCK_SPACE, key))
    busy = (
        Task.objects.filter(project_id=project_id, status=Task.Status.IN_PROGRESS)
        .exclude(pk__in=list(wanted))
        .values_list("files", flat=True)
    )
    held: set[str] = set()
    for files in busy:
        held |= task_files(files)
    return {task_id for task_id, mine in wanted.items() if not mine & held}


def _file_lock_key(project_id: int, name: str) -> int:
    # A signed 32-bit key; two paths sharing one only make their claims take turns.
    return zlib.crc32(f"{project_id}:{name}".encode()) - 2**31
