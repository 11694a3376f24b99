"""Agents' hand-written statements."""

import pytest
from django.db import connection
from django.utils import timezone
from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

from agents.statements import step_statements


def test_a_steps_statements_stay_within_psycopgs_cache_of_parsed_statements():
    # A longer statement has its placeholders parsed again at every execution.
    for vendor in ("postgresql", "sqlite"):
        for name, sql in step_statements(vendor)._asdict().items():
            if sql is not None:
                assert len(sql.encode()) <= MAX_CACHED_STATEMENT_LENGTH, (vendor, name)


@pytest.mark.django_db
def test_a_steps_claim_reads_its_run_by_key_not_by_the_index_of_running_runs():
    # That partial index holds every running run, and the dead entries each step's
    # update leaves: matched to it, the claim walks it whole for the one run it wants.
    if connection.vendor != "postgresql":
        pytest.skip("one statement claims a step on PostgreSQL only")
    sql = step_statements("postgresql").claim_step
    assert sql is not None
    at = timezone.now()
    with connection.cursor() as cursor:
        # What the planner picks for a busy table: any index that can answer the scan.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", {"at": at, "lease": at, "number": 1, "run": 1})
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "agentrun_running_by_agent" not in plan, plan
    assert "agents_agentrun_pkey" in plan, plan


@pytest.mark.django_db
@pytest.mark.parametrize("statement", ["claim_step", "tool_results"])
def test_a_steps_history_reads_its_runs_started_calls_by_their_unique_index(statement):
    # Matched to that partial index, the history reads the run's started calls alone;
    # unmatched, a table without statistics had PostgreSQL intersect the run's entries
    # with those of every started call in the table, a cost that grew with the table.
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    sql = getattr(step_statements("postgresql"), statement)
    at = timezone.now()
    params = {"at": at, "lease": at, "number": 2, "run": 1}
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params if statement == "claim_step" else (1, 2))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "toolcall_started_once_per_step_call" in plan, plan
