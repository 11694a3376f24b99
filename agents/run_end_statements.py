"""Agents' hand-written SQL at the end of every run (agents.services.runs.ending): the
run's end recorded, its agent freed, and the read of its metrics. As in
agents/statements.py, compiling their querysets cost more than running them; table and
column names come from the models' `_meta`, and they change only agents' own tables.
"""

import functools

from django.db import connection
from django.db.models import Model

from agents.models import Agent, AgentRun
from core.db import column_list
from planning.models import Task

_RUN_FIELDS = {field.name: field for field in AgentRun._meta.concrete_fields}
# What a run's end changes, in the order run_ended takes them.
RUN_ENDED_FIELDS = tuple(
    _RUN_FIELDS[name]
    for name in (
        *("status", "finished_at", "error", "lease_expires_at", "result", "key_hash"),
        "updated_at",
    )
)


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def run_ended() -> str:
    """Record a run's end: RUN_ENDED_FIELDS' values, then the run's id. Returns its
    task's QA iterations (0 without a task, or for none recorded), which the run's
    metrics record next: read here, they cost no statement of their own."""
    columns = column_list(RUN_ENDED_FIELDS).split(", ")
    assignments = ", ".join(f"{column} = %s" for column in columns)
    run, task = _table(AgentRun), _table(Task)
    return (
        f'UPDATE {run} SET {assignments} WHERE "id" = %s RETURNING COALESCE(('
        f'SELECT t."qa_iterations" FROM {task} t WHERE t."id" = {run}."task_id"), 0)'
    )


@functools.cache
def agent_freed(*, active: bool, with_task: bool) -> str:
    """An agent busy with a run's task turns idle: (idle status, updated at, with `active`
    the last activity's time, agent id, busy status, with `with_task` the task's id)."""
    activity = ', "last_activity_at" = %s' if active else ""
    task = '"current_task_id" = %s' if with_task else '"current_task_id" IS NULL'
    return (
        f'UPDATE {_table(Agent)} SET "status" = %s, "current_task_id" = NULL, '
        f'"updated_at" = %s{activity} WHERE "id" = %s AND "status" = %s AND {task}'
    )


@functools.cache
def agent_freed_with_metrics(metrics_insert: str, agent_freed: str) -> str:
    """PostgreSQL: a run's metrics inserted (`metrics_insert`, an INSERT returning their
    ids) and its agent freed (`agent_freed`), in one statement. Parameters: the
    insert's, then agent_freed's. Returns the metrics' ids, in the insert's order."""
    return (
        f"WITH metrics AS ({metrics_insert}), freed AS ({agent_freed}) "
        'SELECT "id" FROM metrics ORDER BY "id"'
    )


@functools.cache
def task_qa_iterations() -> str:
    """A task's QA iterations, recorded as a metric of each run of it that ends (task id)."""
    return f'SELECT "qa_iterations" FROM {_table(Task)} WHERE "id" = %s'
