"""Agents' hand-written statements."""

from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

from agents.statements import step_statements


def test_a_steps_statements_stay_within_psycopgs_cache_of_parsed_statements():
    # A longer statement has its placeholders parsed again at every execution.
    for vendor in ("postgresql", "sqlite"):
        for name, sql in step_statements(vendor)._asdict().items():
            if sql is not None:
                assert len(sql.encode()) <= MAX_CACHED_STATEMENT_LENGTH, (vendor, name)
