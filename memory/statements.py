"""Memory's hand-written SQL: the fact search every claim of a task runs (see the
README's Architecture section).

Compiling the search's queryset, an OR of two case-insensitive matches per word, cost
more than a third of a claim's CPU; this is the same search, run through
`core.db.prepared_cursor` (PostgreSQL plans it once per connection). Table and column
names come from the model's `_meta`; it only reads memory's own table.
"""

import functools

from django.db import connection

from core.db import column_list
from memory.models import MemoryFact

FACT_FIELDS = tuple(MemoryFact._meta.concrete_fields)


def _column(name: str) -> str:
    (field,) = (field for field in FACT_FIELDS if field.name == name)
    return connection.ops.quote_name(field.column)


@functools.cache
def fact_search(vendor: str, words: int) -> str:
    """Fresh facts of a project and global ones whose subject or body's "learned"
    mention any of the words, most confident first (FACT_FIELDS), as
    `memory.selectors.memory_fact_search` describes; the matches are Django's
    `icontains`. Parameters: (project id, LIKE patterns, limit): on PostgreSQL the
    patterns as one array (one statement for any number of words), elsewhere `words`
    patterns."""
    subject, body = _column("subject"), _column("body")
    if vendor == "postgresql":
        match = (
            "EXISTS (SELECT 1 FROM unnest(%s::text[]) AS w(pattern) "
            f"WHERE UPPER({subject}::text) LIKE UPPER(w.pattern) "
            f"OR UPPER(({body} ->> 'learned')::text) LIKE UPPER(w.pattern))"
        )
    else:
        # SQLite's LIKE ignores ASCII case, as Django's icontains relies on; a JSON
        # true, false or null compares as its name, as Django's key transform does.
        learned = "'$.\"learned\"'"
        text = (
            f"(CASE WHEN JSON_TYPE({body}, {learned}) IN ('false', 'null', 'true') "
            f"THEN JSON_TYPE({body}, {learned}) ELSE JSON_EXTRACT({body}, {learned}) END)"
        )
        one = f"{subject} LIKE %s ESCAPE '\\' OR {text} LIKE %s ESCAPE '\\'"
        match = "(" + " OR ".join([one] * words) + ")"
    project = _column("project")
    return (
        f"SELECT {column_list(FACT_FIELDS)} "
        f"FROM {connection.ops.quote_name(MemoryFact._meta.db_table)} "
        f"WHERE ({project} = %s OR {project} IS NULL) AND NOT {_column('is_stale')} "
        f"AND {match} "
        f"ORDER BY {_column('confidence')} DESC, {_column('id')} DESC LIMIT %s"
    )
