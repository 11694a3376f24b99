"""Read-side queries for memory facts."""

from django.db.models import QuerySet

from memory.models import MemoryFact
from planning.models import Project


def memory_fact_list(*, project: Project, stale: bool | None = None) -> QuerySet[MemoryFact]:
    """The project's facts, most confident first; `stale` keeps only stale or only fresh ones."""
    facts = MemoryFact.objects.filter(project=project)
    if stale is not None:
        facts = facts.filter(is_stale=stale)
    return facts.select_related("agent").order_by("-confidence", "-id")
