"""An external agent's memory, state and questions to people, through its key."""

from typing import Any

from django.db import transaction

from agents.models import Agent, AgentRun, AgentState
from agents.services.logs import decision_record
from agents.services.state import agent_state_set
from core.errors import ConflictError
from memory import services as memory_services
from memory.models import MemoryFact
from planning import services as planning_services
from planning.models import Task


def agent_state_namespace(agent: Agent) -> str:
    """The namespace of an agent's own state entries."""
    return f"agent:{agent.name}"


def agent_fact_remember(
    *,
    agent: Agent,
    subject: str,
    learned: Any,
    confidence: float,
    source: str,
    run: AgentRun | None = None,
) -> MemoryFact:
    """Remember a fact of the agent's project, with the agent (and run) it came from.

    Raises DomainError for a confidence outside 0..1 or a run of another project.
    """
    return memory_services.memory_fact_create(
        project=agent.project,
        subject=subject,
        learned=learned,
        confidence=confidence,
        source=source,
        agent=agent,
        run=run,
    )


def agent_state_write(*, agent: Agent, key: str, value: Any) -> AgentState:
    """Set one entry of the agent's own state."""
    return agent_state_set(
        project=agent.project, namespace=agent_state_namespace(agent), key=key, value=value
    )


def _options(choices: list[str]) -> list[dict[str, str]]:
    return [{"id": str(number), "name": name} for number, name in enumerate(choices, start=1)]


@transaction.atomic
def agent_question_ask(*, agent: Agent, run: AgentRun, question: str, options: list[str]) -> Task:
    """Ask a person: a checkpoint task in the inbox that the run's task now waits on.

    With options it is a `checkpoint:decision` (the person picks one), else a
    `checkpoint:human-action`. Its key is `<task>.Q<n>`. Raises ConflictError unless the
    agent holds the run, it is running and it works on a task.
    """
    if run.agent_id != agent.pk or run.status != AgentRun.Status.RUNNING or run.task is None:
        raise ConflictError(f"Run {run.pk} is not a running claim of agent {agent.name}.")
    task = run.task
    taken = set(
        Task.objects.filter(
            project_id=task.project_id, key__startswith=f"{task.key}.Q"
        ).values_list("key", flat=True)
    )
    number = 1
    while f"{task.key}.Q{number}" in taken:
        number += 1
    checkpoint = planning_services.task_create(
        project=task.project,
        key=f"{task.key}.Q{number}",
        name=question[:300],
        description=question,
        type=Task.Type.DECISION if options else Task.Type.HUMAN_ACTION,
        feature=task.feature,
        sub_feature=task.sub_feature,
        extra={"options": _options(options), "asked_by": agent.name, "run": run.pk},
    )
    planning_services.task_add_dependency(task=task, depends_on=checkpoint)
    decision_record(
        project=task.project,
        agent=agent,
        run=run,
        task=task,
        decision=f"{agent.name} asked a person ({checkpoint.key}): {question}",
        reasoning={"checkpoint": checkpoint.key, "options": options},
    )
    return checkpoint
