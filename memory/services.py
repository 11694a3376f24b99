"""Write-side operations for memory. Every function here is one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import transaction

from core.errors import DomainError
from core.services import model_update
from memory.models import MemoryFact
from planning.models import Project

if TYPE_CHECKING:
    from agents.models import Agent, AgentRun, ToolCall

MEMORY_FACT_FIELDS = ("subject", "is_stale", "agent", "run", "tool_call")
BODY_FIELDS = ("learned", "confidence", "source")


def _check_confidence(confidence: float) -> None:
    if not 0 <= confidence <= 1:
        raise DomainError("Confidence is a number from 0 to 1.", field="confidence")


def _check_provenance(fact: MemoryFact) -> None:
    if fact.project_id is None:
        return  # A global fact may come from any project's agents.
    links: dict[str, Agent | AgentRun | ToolCall | None] = {
        "agent": fact.agent,
        "run": fact.run,
        "tool_call": fact.tool_call,
    }
    for field, obj in links.items():
        if obj is not None and obj.project_id != fact.project_id:
            raise DomainError(f"{obj} belongs to another project.", field=field)


@transaction.atomic
def memory_fact_create(
    *,
    project: Project | None,
    subject: str,
    learned: Any,
    confidence: float,
    source: str,
    is_stale: bool = False,
    agent: Agent | None = None,
    run: AgentRun | None = None,
    tool_call: ToolCall | None = None,
) -> MemoryFact:
    """Remember a fact; `project=None` makes it global.

    The confidence is stored both in the body and in the indexed column, from one value.
    Raises DomainError for a confidence outside 0..1 or provenance from another project.
    """
    _check_confidence(confidence)
    fact = MemoryFact(
        project=project,
        subject=subject,
        body={"learned": learned, "confidence": confidence, "source": source},
        confidence=confidence,
        is_stale=is_stale,
        agent=agent,
        run=run,
        tool_call=tool_call,
    )
    _check_provenance(fact)
    fact.full_clean()
    fact.save()
    return fact


@transaction.atomic
def memory_fact_update(*, fact: MemoryFact, data: Mapping[str, Any]) -> MemoryFact:
    """Change a fact; `learned`, `confidence` and `source` go into its body.

    Raises DomainError for a confidence outside 0..1, provenance from another project,
    or a field that cannot be changed.
    """

    def derive(changed: list[str]) -> list[str]:
        body = dict(fact.body)
        for name in BODY_FIELDS:
            if name in data and body.get(name) != data[name]:
                body[name] = data[name]
                changed.append("body")
        if "confidence" in data:
            _check_confidence(data["confidence"])
            if fact.confidence != data["confidence"]:
                fact.confidence = data["confidence"]
                changed.append("confidence")
        if changed:
            fact.body = body
            _check_provenance(fact)
        return changed

    columns = {name: value for name, value in data.items() if name not in BODY_FIELDS}
    model_update(instance=fact, data=columns, allowed=MEMORY_FACT_FIELDS, derive=derive)
    return fact


@transaction.atomic
def memory_fact_delete(*, fact: MemoryFact) -> None:
    """Forget a fact. Prefer marking it stale to keep the record."""
    fact.delete()
