"""Read-side queries for memory facts."""

from django.db.models import QuerySet

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
    most confident first. A plain text match for now; retrieval by meaning comes later."""
    from django.db.models import Q

    words = [w for w in query.split() if len(w) > 2][:8] or [query]
    match = Q()
    for word in words:
        match |= Q(subject__icontains=word) | Q(body__learned__icontains=word)
    return list(
        MemoryFact.objects.filter(
            Q(project=project) | Q(project__isnull=True), match, is_stale=False
        ).order_by("-confidence", "-id")[:limit]
    )
