import pytest

from agents.models import ToolCall
from core.errors import DomainError
from memory import services
from memory.models import MemoryFact
from tests.factories import AgentFactory, AgentRunFactory, MemoryFactFactory

pytestmark = pytest.mark.django_db


def test_a_fact_stores_confidence_in_its_body_and_its_column(project) -> None:
    fact = services.memory_fact_create(
        project=project,
        subject="test runner",
        learned="pytest needs -p no:cacheprovider here",
        confidence=0.7,
        source="tool:shell",
    )

    fact = MemoryFact.objects.get(pk=fact.pk)
    assert fact.body == {
        "learned": "pytest needs -p no:cacheprovider here",
        "confidence": 0.7,
        "source": "tool:shell",
    }
    assert fact.confidence == 0.7
    assert fact.is_stale is False


@pytest.mark.parametrize("confidence", [-0.01, 1.5])
def test_a_confidence_outside_0_to_1_is_rejected(project, confidence: float) -> None:
    with pytest.raises(DomainError):
        services.memory_fact_create(
            project=project, subject="s", learned="l", confidence=confidence, source="x"
        )
    assert not MemoryFact.objects.exists()


def test_updating_confidence_keeps_body_and_column_together(project) -> None:
    fact = MemoryFactFactory(project=project, confidence=0.8)

    services.memory_fact_update(fact=fact, data={"confidence": 0.2, "learned": "it changed"})

    fact = MemoryFact.objects.get(pk=fact.pk)
    assert fact.confidence == 0.2
    assert fact.body["confidence"] == 0.2
    assert fact.body["learned"] == "it changed"
    assert fact.body["source"] == "test"
    with pytest.raises(DomainError):
        services.memory_fact_update(fact=fact, data={"confidence": 2})
    assert MemoryFact.objects.get(pk=fact.pk).confidence == 0.2


def test_the_body_cannot_be_replaced_wholesale(project) -> None:
    fact = MemoryFactFactory(project=project)
    with pytest.raises(DomainError):
        services.memory_fact_update(fact=fact, data={"body": {}})


def test_provenance_must_come_from_the_facts_project(project, other_project) -> None:
    foreign_run = AgentRunFactory(agent__project=other_project)
    foreign_call = ToolCall.objects.create(project=other_project, tool_name="shell")
    for provenance in (
        {"agent": foreign_run.agent},
        {"run": foreign_run},
        {"tool_call": foreign_call},
    ):
        with pytest.raises(DomainError):
            services.memory_fact_create(
                project=project, subject="s", learned="l", confidence=0.5, source="x", **provenance
            )
    assert not MemoryFact.objects.exists()


def test_provenance_from_the_project_is_kept(project) -> None:
    run = AgentRunFactory(agent__project=project)
    call = ToolCall.objects.create(project=project, run=run, tool_name="shell")
    fact = services.memory_fact_create(
        project=project,
        subject="s",
        learned="l",
        confidence=0.5,
        source="x",
        agent=run.agent,
        run=run,
        tool_call=call,
    )
    fact = MemoryFact.objects.get(pk=fact.pk)
    assert (fact.agent, fact.run, fact.tool_call) == (run.agent, run, call)


def test_a_global_fact_may_come_from_any_project(project) -> None:
    agent = AgentFactory(project=project)
    fact = services.memory_fact_create(
        project=None, subject="git", learned="l", confidence=0.9, source="x", agent=agent
    )
    assert MemoryFact.objects.get(pk=fact.pk).project is None
