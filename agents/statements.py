"""Agents' hand-written SQL: the statements of the measured hot paths.

An agent step, a claim and every request made with an agent key run these. Compiling
the equivalent querysets costs several times what running them does, so they are
written out here and run through `core.db.prepared_cursor`, which PostgreSQL plans once
per connection. With `agents/event_statements.py` (a coding CLI's events, inserted in
batches), `agents/run_start_statements.py` (a run's start) and
`agents/run_end_statements.py` (a run's end) they are the only raw SQL of the app (see
the README's Architecture section):
table and column names come from the models' `_meta`, and they change only agents' own
tables. They read planning's, never write them; planning's own hot statement, the claim
of a task, lives in `planning/statements.py`.

Each statement's rows are read back with `core.db.instance_from_row` and the field
tuples below, in the order the statement lists the columns.
"""

import functools
from typing import NamedTuple

from django.db import connection
from django.db.models import Model

from agents.models import Agent, AgentRun, AgentState, AgentStep, ToolCall
from core.db import column_list
from planning.models import Project, Task


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


AGENT_FIELDS = tuple(Agent._meta.concrete_fields)
RUN_FIELDS = tuple(AgentRun._meta.concrete_fields)
STEP_FIELDS = tuple(AgentStep._meta.concrete_fields)
TOOL_CALL_FIELDS = tuple(ToolCall._meta.concrete_fields)
AGENT_STATE_FIELDS = tuple(AgentState._meta.concrete_fields)
PROJECT_FIELDS = tuple(Project._meta.concrete_fields)
TASK_FIELDS = tuple(Task._meta.concrete_fields)
TOOL_RESULT_FIELDS = (
    ToolCall._meta.get_field("step"),
    ToolCall._meta.get_field("call_id"),
    ToolCall._meta.get_field("status"),
    ToolCall._meta.get_field("output"),
    ToolCall._meta.get_field("error"),
)
REPLY_FIELDS = (AgentStep._meta.get_field("number"), AgentStep._meta.get_field("reply"))

_RUNNING = AgentRun.Status.RUNNING.value
# A step's started calls, as the partial unique index that keeps each started once
# (toolcall_started_once_per_step_call) names them. Every call a step logs has an id
# (the reply's ids are made unique and non-empty before they are stored), and history
# finds results by (step, call id), so the id's condition leaves no row out; it lets
# PostgreSQL read a run's calls by that index whatever its statistics say, where a
# table never analysed had it intersect the run's entries with every started call's.
_STARTED_STEP_CALL = 's."started_id" IS NULL AND s."call_id" <> \'\''


# Requests made with an agent key ------------------------------------------------------


@functools.cache
def agent_by_key_hash() -> str:
    """The agent with a key hash, and its project (AGENT_FIELDS, then PROJECT_FIELDS)."""
    agent, project = _table(Agent), _table(Project)
    return (
        f"SELECT {column_list(AGENT_FIELDS, Agent._meta.db_table)}, "
        f"{column_list(PROJECT_FIELDS, Project._meta.db_table)} "
        f'FROM {agent} INNER JOIN {project} ON {project}."id" = {agent}."project_id" '
        f'WHERE {agent}."api_key_hash" = %s ORDER BY {agent}."id" LIMIT 1'
    )


@functools.cache
def agent_state_entry() -> str:
    """A project's agent-state entry at (project, namespace, key): at most one row."""
    return (
        f"SELECT {column_list(AGENT_STATE_FIELDS)} FROM {_table(AgentState)} "
        'WHERE "project_id" = %s AND "namespace" = %s AND "key" = %s'
    )


# Claims ---------------------------------------------------------------------------------


@functools.cache
def held_run() -> str:
    """The running run an agent holds, if any (RUN_FIELDS).

    The status is a literal so that PostgreSQL matches the partial index
    agentrun_running_by_agent even under a prepared statement's generic plan."""
    return (
        f"SELECT {column_list(RUN_FIELDS)} FROM {_table(AgentRun)} "
        f'WHERE "agent_id" = %s AND "status" = \'{_RUNNING}\' '
        'ORDER BY "id" DESC LIMIT 1'
    )


@functools.cache
def lock_for_claim(vendor: str) -> str:
    """Lock the claiming agent, and read what decides whether it may claim: its status
    and its project's."""
    agent, project = _table(Agent), _table(Project)
    sql = (
        f'SELECT {agent}."status", {project}."status" '
        f'FROM {agent} INNER JOIN {project} ON {project}."id" = {agent}."project_id" '
        f'WHERE {agent}."id" = %s'
    )
    if vendor == "postgresql":
        sql += f" FOR NO KEY UPDATE OF {agent}"
    return sql


@functools.cache
def agent_busy() -> str:
    """Mark an agent busy with a task: (status, task id, last activity, updated, agent id)."""
    return (
        f'UPDATE {_table(Agent)} SET "status" = %s, "current_task_id" = %s, '
        '"last_activity_at" = %s, "updated_at" = %s WHERE "id" = %s'
    )


@functools.cache
def agent_holds_run() -> str:
    """Whether an agent holds a running run: a condition, parameter (agent id)."""
    return (
        f"EXISTS (SELECT 1 FROM {_table(AgentRun)} "
        f'WHERE "agent_id" = %s AND "status" = \'{_RUNNING}\')'
    )


@functools.cache
def agent_busy_with_new_run() -> str:
    """PostgreSQL: agent_busy, after a WITH query `new_run` that inserted a run, and only
    if it did; returns the run's id. Parameters as agent_busy's."""
    return (
        f'UPDATE {_table(Agent)} SET "status" = %s, "current_task_id" = %s, '
        '"last_activity_at" = %s, "updated_at" = %s '
        'WHERE "id" = %s AND EXISTS (SELECT 1 FROM new_run) '
        'RETURNING (SELECT "id" FROM new_run)'
    )


# Agent steps ----------------------------------------------------------------------------


class StepStatements(NamedTuple):
    """A step's hot statements (see agents.runtime)."""

    claim_step: str | None
    renew_lease: str
    count_attempt: str
    links: str
    tool_results: str
    replies: str
    store_reply: str
    lock_agent: str
    lock_run: str
    lock_agent_and_run: str | None
    locked_run: str | None
    store_reply_locked: str | None
    lock_tool_call: str
    completion: str
    end_step: str


@functools.cache
def step_statements(vendor: str) -> StepStatements:
    for_update = vendor == "postgresql"
    run, step, call = _table(AgentRun), _table(AgentStep), _table(ToolCall)
    project, agent, task = _table(Project), _table(Agent), _table(Task)
    # The step number goes into the run's progress, as JSON.
    progress = (
        "\"result\" || jsonb_build_object('step', %s::integer)"
        if vendor == "postgresql"
        else "json_set(\"result\", '$.step', %s)"
    )
    step_running = f"'{AgentStep.Status.RUNNING.value}'"
    step_done = f"'{AgentStep.Status.DONE.value}'"
    postgresql = vendor == "postgresql"
    return StepStatements(
        # PostgreSQL: a delivery's whole claim of its step in one statement, run on its
        # own (its own transaction). It lets its commit return before the WAL reaches
        # disk (bookkeeping a redelivery redoes), renews the lease of the running run
        # unless the step is over, creates the step or counts an attempt of a running
        # one, and returns the run (RUN_FIELDS), the step (STEP_FIELDS), the run's
        # project (PROJECT_FIELDS), agent (AGENT_FIELDS) and task (TASK_FIELDS, NULLs
        # without one), then the conversation so far as two JSON texts: the replies of
        # the steps before, [[number, reply], ...] in order, and their finished calls,
        # [[step, call id, status, output, error], ...]. No row: the run is not running
        # or the step is over. Parameters: (heartbeat, lease, updated, step number, run
        # id); steps are created under the run's row lock, taken by the UPDATE. It is
        # kept under psycopg's cache of parsed statements (4 kB): longer ones are parsed
        # for their placeholders at every execution.
        claim_step=(
            (
                "WITH no_flush_wait AS ("
                "SELECT set_config('synchronous_commit', 'off', true) AS setting), "
                f'cb_run AS (UPDATE {run} SET "heartbeat_at" = %(at)s, '
                '"lease_expires_at" = %(lease)s, "updated_at" = %(at)s, '
                '"result" = "result" || jsonb_build_object(\'step\', %(number)s::integer) '
                # IS TRUE: a test PostgreSQL cannot match to the partial index of running
                # runs, which it would otherwise walk whole (with the dead entries each
                # step's update leaves there) rather than read the run by its key.
                f'WHERE "id" = %(run)s AND ("status" = \'{_RUNNING}\') IS TRUE '
                "AND (SELECT setting FROM no_flush_wait) IS NOT NULL "
                f'AND NOT EXISTS (SELECT 1 FROM {step} d WHERE d."run_id" = %(run)s '
                f'AND d."number" = %(number)s AND d."status" <> {step_running}) '
                f"RETURNING {column_list(RUN_FIELDS)}), "
                f"cb_step AS (INSERT INTO {step} "
                '("run_id", "number", "status", "attempts", "reply", "error", "started_at") '
                f"SELECT \"id\", %(number)s, {step_running}, 1, NULL::jsonb, '', %(at)s "
                "FROM cb_run "
                'ON CONFLICT ("run_id", "number") DO UPDATE '
                f'SET "attempts" = {step}."attempts" + 1 '
                f'WHERE {step}."status" = {step_running} '
                f"RETURNING {column_list(STEP_FIELDS)}) "
                # The WITH queries return RUN_FIELDS and STEP_FIELDS, in that order.
                "SELECT cb_run.*, cb_step.*, "
                f"{column_list(PROJECT_FIELDS, 'p')}, {column_list(AGENT_FIELDS, 'a')}, "
                f"{column_list(TASK_FIELDS, 't')}, "
                '(SELECT COALESCE(json_agg(json_build_array(r."number", r."reply") '
                f"ORDER BY r.\"number\"), '[]')::text FROM {step} r "
                'WHERE r."run_id" = %(run)s AND r."number" < %(number)s '
                'AND r."reply" IS NOT NULL), '
                "(SELECT COALESCE(json_agg(json_build_array("
                's."step", s."call_id", c."status", c."output", c."error")), \'[]\')::text '
                f'FROM {call} s INNER JOIN {call} c ON c."started_id" = s."id" '
                f'WHERE s."run_id" = %(run)s AND {_STARTED_STEP_CALL} '
                'AND s."step" < %(number)s) '
                "FROM cb_run INNER JOIN cb_step ON true "
                f'INNER JOIN {project} p ON p."id" = cb_run."project_id" '
                f'INNER JOIN {agent} a ON a."id" = cb_run."agent_id" '
                f'LEFT OUTER JOIN {task} t ON t."id" = cb_run."task_id"'
            )
            if postgresql
            else None
        ),
        # Lock a running run, renew its lease, record the step and return the run
        # (RUN_FIELDS): (heartbeat, lease, updated, step number, run id).
        renew_lease=(
            f'UPDATE {run} SET "heartbeat_at" = %s, "lease_expires_at" = %s, '
            f'"updated_at" = %s, "result" = {progress} '
            f'WHERE "id" = %s AND "status" = \'{_RUNNING}\' '
            f"RETURNING {column_list(RUN_FIELDS)}"
        ),
        # Create the step, or count an attempt of a running one (STEP_FIELDS).
        count_attempt=(
            f"INSERT INTO {step} "
            '("run_id", "number", "status", "attempts", "reply", "error", "started_at") '
            f"VALUES (%s, %s, {step_running}, 1, NULL, '', %s) "
            'ON CONFLICT ("run_id", "number") DO UPDATE '
            f'SET "attempts" = {step}."attempts" + 1 '
            f'WHERE {step}."status" = {step_running} '
            f"RETURNING {column_list(STEP_FIELDS)}"
        ),
        # The run's project, agent and task, if any (PROJECT_FIELDS, AGENT_FIELDS,
        # TASK_FIELDS): (task id, project id, agent id).
        links=(
            f"SELECT {column_list(PROJECT_FIELDS, 'p')}, {column_list(AGENT_FIELDS, 'a')}, "
            f"{column_list(TASK_FIELDS, 't')} "
            f"FROM {project} p INNER JOIN {agent} a ON true "
            f'LEFT OUTER JOIN {task} t ON t."id" = %s '
            'WHERE p."id" = %s AND a."id" = %s'
        ),
        # Each finished call of the steps before, with its completion (TOOL_RESULT_FIELDS).
        tool_results=(
            'SELECT s."step", s."call_id", c."status", c."output", c."error" '
            f'FROM {call} s INNER JOIN {call} c ON c."started_id" = s."id" '
            f'WHERE s."run_id" = %s AND {_STARTED_STEP_CALL} AND s."step" < %s'
        ),
        # The model's replies of the steps before, in order (REPLY_FIELDS).
        replies=(
            f'SELECT "number", "reply" FROM {step} '
            'WHERE "run_id" = %s AND "number" < %s AND "reply" IS NOT NULL ORDER BY "number"'
        ),
        # The first reply stored wins; a duplicate delivery uses it.
        store_reply=f'UPDATE {step} SET "reply" = %s WHERE "id" = %s AND "reply" IS NULL',
        # The run's agent, locked before the run as every path takes them (agent id).
        lock_agent=(
            f'SELECT "id" FROM {agent} WHERE "id" = %s'
            + (" FOR NO KEY UPDATE" if for_update else "")
        ),
        # What cancel and pause change: the run's status and its project's.
        lock_run=(
            f'SELECT r."status", p."status" FROM {run} r '
            f'INNER JOIN {project} p ON p."id" = r."project_id" WHERE r."id" = %s'
            + (" FOR UPDATE OF r" if for_update else "")
        ),
        # PostgreSQL: the run's agent, then the run, locked in one statement, returning
        # what lock_run does: (agent id, run id). The agent's lock is a one-time
        # condition of the run's scan, so it is taken before the run is read and locked.
        lock_agent_and_run=(
            (
                f'WITH locked_agent AS MATERIALIZED (SELECT "id" FROM {agent} '
                'WHERE "id" = %s FOR NO KEY UPDATE) '
                f'SELECT r."status", p."status" FROM {run} r '
                f'INNER JOIN {project} p ON p."id" = r."project_id" '
                'WHERE r."id" = %s AND EXISTS (SELECT 1 FROM locked_agent) FOR UPDATE OF r'
            )
            if postgresql
            else None
        ),
        # PostgreSQL: lock_agent_and_run as two WITH queries, locked_agent and
        # locked_run (run_status, project_status), for store_reply_locked; parameters:
        # (agent id, run id).
        locked_run=(
            (
                f'locked_agent AS MATERIALIZED (SELECT "id" FROM {agent} '
                'WHERE "id" = %s FOR NO KEY UPDATE), '
                'locked_run AS MATERIALIZED (SELECT r."status" AS run_status, '
                f'p."status" AS project_status FROM {run} r '
                f'INNER JOIN {project} p ON p."id" = r."project_id" '
                'WHERE r."id" = %s AND EXISTS (SELECT 1 FROM locked_agent) FOR UPDATE OF r)'
            )
            if postgresql
            else None
        ),
        # PostgreSQL: store_reply once the run is locked (the locks are a one-time
        # condition of the step's scan, so they come first, as on every path), returning
        # what locked_run read: (reply, step id). No row: a duplicate delivery stored
        # its reply first.
        store_reply_locked=(
            (
                f'UPDATE {step} SET "reply" = %s WHERE "id" = %s AND "reply" IS NULL '
                "AND EXISTS (SELECT 1 FROM locked_run) "
                "RETURNING (SELECT run_status FROM locked_run), "
                "(SELECT project_status FROM locked_run)"
            )
            if postgresql
            else None
        ),
        lock_tool_call=(
            f'SELECT "id" FROM {call} WHERE "id" = %s' + (" FOR UPDATE" if for_update else "")
        ),
        # A started call's completion row, if any (TOOL_CALL_FIELDS).
        completion=f'SELECT {column_list(TOOL_CALL_FIELDS)} FROM {call} WHERE "started_id" = %s',
        # Only the delivery that marks the step done moves the run on.
        end_step=(
            f'UPDATE {step} SET "status" = {step_done}, "finished_at" = %s '
            f'WHERE "id" = %s AND "status" = {step_running}'
        ),
    )


@functools.cache
def reply_stored_with_started_call(usage_insert: str, started_insert: str) -> str:
    """PostgreSQL: what locked_run and store_reply_locked do, and the "started" row of
    the reply's first tool call, inserted only when the reply was stored (its INSERT's
    condition is REPLY_NOT_STORED). Parameters: (agent id, run id, the usage rows', reply,
    step id, the started row's). Returns (run status, project status, started row id);
    no row: a duplicate delivery stored its reply first."""
    statements = step_statements("postgresql")
    return (
        f"WITH {statements.locked_run}, usage AS ({usage_insert}), "
        f"stored (run_status, project_status) AS ({statements.store_reply_locked}), "
        f"started AS ({started_insert}) "
        'SELECT run_status, project_status, (SELECT "id" FROM started) FROM stored'
    )


# The condition under which reply_stored_with_started_call inserts no started row.
REPLY_NOT_STORED = "NOT EXISTS (SELECT 1 FROM stored)"


@functools.cache
def completion_ending_step(completion_insert: str) -> str:
    """PostgreSQL: insert a call's completion row and end the step (end_step), in one
    statement. Parameters: (the completion row's, finished at, step id). Returns
    (completion id, whether this statement ended the step)."""
    end_step = step_statements("postgresql").end_step
    return (
        f"WITH completion AS ({completion_insert}), ended AS ({end_step} RETURNING 1) "
        'SELECT (SELECT "id" FROM completion), EXISTS (SELECT 1 FROM ended)'
    )
