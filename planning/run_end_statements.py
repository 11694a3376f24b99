"""Planning's hand-written SQL at the end of every task run: the task settled
(services.task_work.task_release) and the reads of the status roll-up that follows
(services.rollup). Compiling their querysets cost more than running them; they are
written out here, as the claim's are in planning/statements.py, and run through
`core.db.prepared_cursor`. Table and column names come from the models' `_meta`.
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

from planning.models import Project, Task


def _table(model: type[Model]) -> str:
    return connections[DEFAULT_DB_ALIAS].ops.quote_name(model._meta.db_table)


# A task closed by a person, or by the agent itself, stays closed when the run ends.
CLOSED_STATUSES = (Task.Status.DONE, Task.Status.CANCELLED, Task.Status.DEFERRED)


@functools.cache
def task_settle(vendor: str, *, done: bool, coded_by: bool, held: str, by_agent: bool) -> str:
    """task_release's UPDATE, a prepared statement: every task run ends with it, and
    compiling its queryset cost more than running it. Parameters, in order: the new
    status; when `done`, the time twice (completed_at, never before started_at); the
    time (updated_at); with `coded_by`, the coder's id; the task's id; with `held`
    "agent", the agent's id ("none": the task must be held by no agent; "": either);
    with `by_agent`, the agent's id."""
    table = _table(Task)
    closed_statuses = ", ".join(f"'{status.value}'" for status in CLOSED_STATUSES)
    closed = f'"status" IN ({closed_statuses})'
    greatest = "GREATEST" if vendor == "postgresql" else "MAX"  # as Django's Greatest
    completed = (
        f'COALESCE("completed_at", COALESCE({greatest}(%s, "started_at"), %s))' if done else "NULL"
    )
    status = "%s"
    if by_agent:
        status = f'CASE WHEN {closed} THEN "status" ELSE %s END'
        completed = f'CASE WHEN {closed} THEN "completed_at" ELSE {completed} END'
    sql = (
        f'UPDATE {table} SET "status" = {status}, "assigned_agent_id" = NULL, '
        f'"completed_at" = {completed}, "updated_at" = %s'
        + (', "coded_by_id" = %s' if coded_by else "")
        + ' WHERE "id" = %s'
    )
    if held:
        holder = '"assigned_agent_id" = %s' if held == "agent" else '"assigned_agent_id" IS NULL'
        sql += f" AND \"status\" = '{Task.Status.IN_PROGRESS.value}' AND {holder}"
    if by_agent:
        sql += ' AND ("assigned_agent_id" IS NULL OR "assigned_agent_id" = %s)'
    return sql


# The most tasks tasks_places reads: a statement per number of tasks.
PLACES_PREPARED = 8


@functools.lru_cache(maxsize=PLACES_PREPARED)
def tasks_places(count: int) -> str:
    """The feature, sub-feature and status of `count` tasks of a project: parameters,
    the task ids, then the project's id. Tasks that are not (or no longer) there are
    left out."""
    ids = ", ".join(["%s"] * count)
    return (
        f'SELECT "feature_id", "sub_feature_id", "status" FROM {_table(Task)} '
        f'WHERE "id" IN ({ids}) AND "project_id" = %s'
    )


@functools.cache
def project_status() -> str:
    """A project's status (project id)."""
    return f'SELECT "status" FROM {_table(Project)} WHERE "id" = %s'
