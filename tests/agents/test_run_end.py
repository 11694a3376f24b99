"""A run's end, written by prepared statements: the same row as the model's save, and
its agent freed only while it is still busy with the run's task."""

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models.signals import pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent, AgentRun, Metric
from agents.services import runs
from planning.models import Task
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory

pytestmark = pytest.mark.django_db

ENDED = ("status", "error", "lease_expires_at", "result", "key_hash")


def _running(agent: Agent, task: Task | None) -> AgentRun:
    run = AgentRunFactory(
        agent=agent,
        task=task,
        status=AgentRun.Status.RUNNING,
        started_at=timezone.now(),
        lease_expires_at=timezone.now(),
        key_hash="a-key",
        result={"step": 3},
    )
    Agent.objects.filter(pk=agent.pk).update(status=Agent.Status.BUSY, current_task=task)
    return run


def _ended(run: AgentRun) -> dict[str, Any]:
    row = AgentRun.objects.values(*ENDED, "finished_at", "updated_at").get(pk=run.pk)
    assert row["finished_at"] is not None and row["updated_at"] >= row["finished_at"]
    return {name: row[name] for name in ENDED}


def test_a_runs_end_is_stored_as_its_save_stored_it(project):
    agent = AgentFactory(project=project)
    saved, written = (_running(agent, TaskFactory(project=project)) for _ in range(2))

    def watching(sender: type[AgentRun], **kwargs: object) -> None:
        pass

    pre_save.connect(watching, sender=AgentRun)  # someone watching: the model's save
    try:
        with transaction.atomic():
            runs.run_finish(run=saved, succeeded=False, summary="no", error="broke")
    finally:
        pre_save.disconnect(watching, sender=AgentRun)
    with transaction.atomic():
        runs.run_finish(run=written, succeeded=False, summary="no", error="broke")

    assert _ended(written) == _ended(saved)
    assert _ended(written)["key_hash"] == "" and _ended(written)["lease_expires_at"] is None


@pytest.mark.parametrize("with_task", [True, False])
def test_an_ended_runs_agent_is_freed_while_busy_with_its_task(project, with_task):
    agent = AgentFactory(project=project)
    task = TaskFactory(project=project) if with_task else None
    run = _running(agent, task)
    with transaction.atomic():
        runs.run_finish(run=run, succeeded=True, summary="done")
    agent.refresh_from_db()
    assert (agent.status, agent.current_task) == (Agent.Status.IDLE, None)


def test_an_agent_that_moved_on_is_left_alone(project):
    agent = AgentFactory(project=project)
    run = _running(agent, TaskFactory(project=project))
    other = TaskFactory(project=project)
    Agent.objects.filter(pk=agent.pk).update(current_task=other)  # given other work meanwhile
    with transaction.atomic():
        runs.run_finish(run=run, succeeded=True, summary="done")
    agent.refresh_from_db()
    assert (agent.status, agent.current_task) == (Agent.Status.BUSY, other)


def _metrics(run: AgentRun) -> list[tuple[str, float, Any]]:
    return list(
        Metric.objects.filter(run=run).order_by("id").values_list("type", "value", "metadata")
    )


@pytest.mark.parametrize("watched", [AgentRun, Metric])
def test_a_runs_end_records_the_metrics_its_models_save_would(project, watched):
    # Watched, a model is saved the usual way: the run's end and its metrics' insert
    # then run on their own, and the task's QA iterations are read on their own.
    agent = AgentFactory(project=project)
    saved, written = (
        _running(agent, TaskFactory(project=project, qa_iterations=3)) for _ in range(2)
    )

    def watching(sender: type[Any], **kwargs: object) -> None:
        pass

    pre_save.connect(watching, sender=watched)
    try:
        with transaction.atomic():
            runs.run_finish(run=saved, succeeded=True, summary="done")
    finally:
        pre_save.disconnect(watching, sender=watched)
    Agent.objects.filter(pk=agent.pk).update(status=Agent.Status.BUSY, current_task=written.task)
    with transaction.atomic():
        runs.run_finish(run=written, succeeded=True, summary="done")

    assert _metrics(written)[1:] == _metrics(saved)[1:] == [("qa_iterations", 3.0, {})]
    duration, *_ = _metrics(written)
    assert duration[0] == "run_duration" and duration[2] == {"unit": "s", "status": "succeeded"}
    agent.refresh_from_db()
    assert (agent.status, agent.current_task) == (Agent.Status.IDLE, None)


def test_a_runs_end_reads_qa_iterations_and_frees_its_agent_in_statements_it_runs_anyway(
    project,
):
    if connection.vendor != "postgresql":
        pytest.skip("the statements share a WITH clause on PostgreSQL only")
    run = _running(AgentFactory(project=project), TaskFactory(project=project, qa_iterations=2))
    with CaptureQueriesContext(connection) as ran, transaction.atomic():
        runs.run_finish(run=run, succeeded=False, summary="no")
    statements = [query["sql"] for query in ran.captured_queries]
    assert not [sql for sql in statements if sql.startswith('SELECT "qa_iterations"')]
    assert not [sql for sql in statements if sql.startswith('UPDATE "agents_agent"')]
    assert [sql for sql in statements if sql.startswith("WITH metrics AS (INSERT")]
    assert _metrics(run)[1] == ("qa_iterations", 2.0, {})
