"""Agents' hand-written SQL at the start of a built-in run (agents.services.runs.start):
the run locked after its agent and read with its links, then its start recorded and its
agent marked busy. As in agents/statements.py, compiling their querysets cost more than
running them; table and column names come from the models' `_meta`, and they change only
agents' own tables. Rows are read back with agents.statements' field tuples.
"""

import functools

from django.db import connection
from django.db.models import Model

from agents.models import Agent, AgentRun, AgentStep
from agents.statements import (
    AGENT_FIELDS,
    PROJECT_FIELDS,
    RUN_FIELDS,
    TASK_FIELDS,
    agent_busy,
)
from core.db import column_list
from planning.models import Project, Task


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def run_for_start(vendor: str) -> str:
    """Lock a run (after its agent, on PostgreSQL) and return it (RUN_FIELDS) with its
    project (PROJECT_FIELDS), agent (AGENT_FIELDS) and task (TASK_FIELDS, NULLs without
    one), then whether it has steps: (agent id, run id) on PostgreSQL, elsewhere (run
    id). No row: no such run."""
    run, step = _table(AgentRun), _table(AgentStep)
    project, agent, task = _table(Project), _table(Agent), _table(Task)
    # As agents.statements' lock_agent_and_run: the agent's lock is a one-time condition
    # of the run's scan.
    locked_agent, after_agent, lock = "", "", ""
    if vendor == "postgresql":
        locked_agent = (
            f'WITH locked_agent AS MATERIALIZED (SELECT "id" FROM {agent} '
            'WHERE "id" = %s FOR NO KEY UPDATE) '
        )
        after_agent, lock = " AND EXISTS (SELECT 1 FROM locked_agent)", " FOR UPDATE OF r"
    return (
        f"{locked_agent}SELECT {column_list(RUN_FIELDS, 'r')}, "
        f"{column_list(PROJECT_FIELDS, 'p')}, {column_list(AGENT_FIELDS, 'a')}, "
        f"{column_list(TASK_FIELDS, 't')}, "
        f'EXISTS (SELECT 1 FROM {step} s WHERE s."run_id" = r."id") '
        f'FROM {run} r INNER JOIN {project} p ON p."id" = r."project_id" '
        f'INNER JOIN {agent} a ON a."id" = r."agent_id" '
        f'LEFT OUTER JOIN {task} t ON t."id" = r."task_id" '
        f'WHERE r."id" = %s{after_agent}{lock}'
    )


@functools.cache
def run_started(vendor: str) -> str:
    """Record a locked run's start: (status, started at, heartbeat, lease, stage, executor,
    payload, updated, run id). On PostgreSQL it also marks the agent busy, as agent_busy,
    whose parameters follow."""
    started = (
        f'UPDATE {_table(AgentRun)} SET "status" = %s, "started_at" = %s, '
        '"heartbeat_at" = %s, "lease_expires_at" = %s, "stage" = %s, "executor" = %s, '
        '"payload" = %s, "updated_at" = %s WHERE "id" = %s'
    )
    if vendor != "postgresql":
        return started
    return f"WITH started AS ({started}) {agent_busy()}"
