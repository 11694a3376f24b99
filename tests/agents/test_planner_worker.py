"""Plan generation carried out by a real Celery worker process."""

import pytest

from agents import services as agent_services
from agents.models import AgentRun
from agents.services.planner import planner_for
from agents.tasks import generate_plan
from tests.celery_worker import wait_for
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_generates_the_plan(worker):
    process, queue, conn, log_path = worker
    project = ProjectFactory()
    run = agent_services.agent_run_create(
        project=project, agent=planner_for(project=project), kind=AgentRun.Kind.PLANNING
    )
    AgentRun.objects.filter(pk=run.pk).update(
        payload={"requirements": "## Core\n- Models\n- API, after Models"}
    )

    generate_plan.apply_async(args=[run.pk], queue=queue, connection=conn)

    finished = AgentRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"])
    wait_for(finished.exists, process, log_path)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert dict(project.tasks.values_list("key", "name")) == {"F01-T1": "Models", "F01-T2": "API"}
    assert run.result["version"] == 1
