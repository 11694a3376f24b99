"""Tasks waiting for a person and two days of model usage, shared by the agent page tests."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from agents.models import Agent, Metric
from planning.models import Task
from tests.agents.views.run_records import token_use
from tests.factories import AgentFactory, AgentRunFactory, TaskDependencyFactory, TaskFactory


@pytest.fixture
def checkpoint_task(project) -> Task:
    return TaskFactory(
        project=project,
        key="CP1",
        name="Check the login page",
        type=Task.Type.HUMAN_VERIFY,
        extra={"what-built": "A login page", "how-to-verify": "Log in as alice"},
    )


@pytest.fixture
def decision_task(project) -> Task:
    return TaskFactory(
        project=project,
        key="CP2",
        name="Pick a database",
        type=Task.Type.DECISION,
        extra={
            "options": [
                {"id": "pg", "name": "PostgreSQL", "pros": ["SKIP LOCKED"], "cons": ["a server"]},
                {"id": "lite", "name": "SQLite", "pros": "no server", "cons": ["one writer"]},
            ]
        },
    )


@pytest.fixture
def later_task(project, checkpoint_task) -> Task:
    """A checkpoint that waits on an unfinished coding task."""
    blocker = TaskFactory(project=project, key="T1", name="Build it")
    task = TaskFactory(project=project, key="CP3", name="Check it", type=Task.Type.HUMAN_VERIFY)
    TaskDependencyFactory(task=task, depends_on=blocker)
    return task


@pytest.fixture
def usage(project) -> tuple[date, date]:
    """Two days of model calls by two agents, one of them on two models."""
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    coder = AgentFactory(project=project, name="coder-a")
    planner = AgentFactory(project=project, name="planner <p>", type=Agent.Type.PLANNER)
    run = AgentRunFactory(agent=coder)
    plan_run = AgentRunFactory(agent=planner)
    for at, agent, model, tokens, cost in [
        (yesterday, coder, "gpt-4o", 100, 0.01),
        (yesterday, coder, "gpt-4o", 50, 0.005),
        (today, coder, "gpt-4o", 300, 0.03),
        (today, coder, "gpt-4o-mini", 1000, 0.002),
        (today, planner, "gpt-4o", 2000, 0.2),
    ]:
        token_use(
            run if agent == coder else plan_run,
            input_tokens=tokens,
            output_tokens=0,
            cost=cost,
            model=model,
            recorded_at=at,
            agent=agent,
        )
    # Not usage: ignored.
    Metric.objects.create(project=project, agent=coder, type="latency", value=999)
    return today.date(), yesterday.date()
