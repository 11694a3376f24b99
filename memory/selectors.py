"""Read-side queries for memory facts."""

from typing import Any

from django.db import connection
from django.db.models import QuerySet

from core.db import instance_from_row, prepared_cursor
from memory import statements
from memory.models import MemoryFact
from planning.models import Project


def memory_fact_list(*, project: Project) -> QuerySet[MemoryFact]:
    """The project's facts, most confident first. The API and the fact list page narrow
    them down with `memory.filters.MemoryFactFilterSet`."""
    return (
        MemoryFact.objects.filter(project=project)
        .select_related("agent")
        .order_by("-confidence", "-id")
    )


def memory_fact_search(*, project: Project, query: str, limit: int = 10) -> list[MemoryFact]:
    """Fresh facts of the project and global ones whose subject or body mention `query`,
    most confident first. A plain text match for now; retrieval by meaning comes later.

    Every claim of a task runs this, so it is a prepared statement
    (memory.statements.fact_search) rather than a queryset."""
    words = [w for w in query.split() if len(w) > 2][:8] or [query]
    patterns = [f"%{connection.ops.prep_for_like_query(word)}%" for word in words]
    if connection.vendor == "postgresql":
        params: list[Any] = [project.pk, patterns, limit]
    else:
        params = [project.pk, *(p for pattern in patterns for p in (pattern, pattern)), limit]
    with prepared_cursor() as cursor:
        cursor.execute(statements.fact_search(connection.vendor, len(words)), params)
        rows = cursor.fetchall()
    return [instance_from_row(MemoryFact, statements.FACT_FIELDS, row) for row in rows]
