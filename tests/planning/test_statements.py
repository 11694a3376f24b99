"""Planning's hand-written statements: the claim, and its file-overlap condition."""

import pytest
from django.db import connection, transaction
from django.db.models import Exists
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent
from planning import statements
from planning.models import Task
from planning.services.claims import task_claim_next
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_claim_statements_refuse_to_build_without_the_claiming_agents_placeholder(
    project, monkeypatch
) -> None:
    """Without it, agents would silently never get the tasks assigned to them."""
    real = statements._claim_candidates
    monkeypatch.setattr(
        statements, "_claim_candidates", lambda p, v: [real(p, v)[0][1:], *real(p, v)[1:]]
    )
    with transaction.atomic(), pytest.raises(RuntimeError, match="placeholder is missing"):
        statements.claim_statements.__wrapped__(project.pk)


def test_files_free_judges_the_row_of_the_query_it_is_in(project) -> None:
    """Inside a subquery of tasks within another query of tasks, the condition is about
    the subquery's task, not the enclosing query's (whose table Django names outright)."""
    TaskFactory(project=project, key="A", files=["calc/stats.py"], status="in_progress")
    waiting = TaskFactory(project=project, key="B", files=["./calc/stats.py"])
    free = TaskFactory(project=project, key="C", files=["docs/index.md"])
    waiting_is_free = Exists(Task.objects.filter(pk=waiting.pk).filter(statements.FilesFree()))
    free_is_free = Exists(Task.objects.filter(pk=free.pk).filter(statements.FilesFree()))

    for outer in (waiting, free):
        row = (
            Task.objects.filter(pk=outer.pk)
            .annotate(waiting_free=waiting_is_free, free_free=free_is_free)
            .values("waiting_free", "free_free")
            .get()
        )
        assert row == {"waiting_free": False, "free_free": True}


def test_a_claim_finds_the_best_task_with_free_files_in_its_first_statement(project) -> None:
    """When the best tasks wait for files, the best group is the best of those whose files
    are free: the first, cheap statement claims it, without the fallbacks."""
    TaskFactory(project=project, key="A", files=["calc/stats.py"], status="in_progress")
    TaskFactory(project=project, key="B", files=["calc/stats.py"], priority="high")
    TaskFactory(project=project, key="C", files=["docs/index.md"], priority="low")
    TaskFactory(project=project, key="D", files=["docs/other.md"], priority="low")
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL)
    task_table = Task._meta.db_table

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        claimed = task_claim_next(project_id=project.pk, agent_id=agent.pk, now=timezone.now())

    assert claimed is not None and claimed.task.key == "C"
    # On PostgreSQL a claim statement starts with the best group's WITH clause.
    claims = [q for q in queries if f'UPDATE "{task_table}" SET "status"' in q["sql"]]
    assert len(claims) == 1
