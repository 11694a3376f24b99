"""Invariants the database enforces for memory facts, whatever code writes the rows."""

import pytest
from django.db import IntegrityError, transaction

from memory.models import MemoryFact
from tests.factories import AgentFactory, MemoryFactFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("confidence", [-0.1, 1.5])
def test_confidence_outside_0_to_1_is_rejected(confidence: float) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        MemoryFactFactory(confidence=confidence)

    assert not MemoryFact.objects.exists()


@pytest.mark.parametrize("confidence", [0, 1])
def test_confidence_bounds_are_accepted(confidence: float) -> None:
    fact = MemoryFactFactory(confidence=confidence)
    assert MemoryFact.objects.get(pk=fact.pk).confidence == confidence


@pytest.mark.parametrize("missing", ["learned", "confidence", "source"])
def test_body_without_a_required_key_is_rejected(missing: str) -> None:
    body = {"learned": "use uv", "confidence": 0.5, "source": "readme"}
    del body[missing]

    with pytest.raises(IntegrityError), transaction.atomic():
        MemoryFactFactory(body=body)

    assert not MemoryFact.objects.exists()


def test_body_may_carry_extra_keys() -> None:
    fact = MemoryFactFactory(
        body={"learned": "use uv", "confidence": 0.8, "source": "readme", "tags": ["py"]}
    )
    assert MemoryFact.objects.get(pk=fact.pk).body["tags"] == ["py"]


def test_a_fact_outlives_the_agent_that_learned_it() -> None:
    agent = AgentFactory()
    fact = MemoryFactFactory(project=agent.project, agent=agent)

    agent.delete()

    fact.refresh_from_db()
    assert fact.agent is None
