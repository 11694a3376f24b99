"""Import jobs carried out by a real Celery worker process."""

import json

import pytest

from planning.models import DevPlanVersion, ImportJob, Task
from planning.services.import_jobs import import_job_create
from planning.tasks import import_plan_job
from tests.celery_worker import wait_for
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TASKS_JSON = json.dumps(
    {"tasks": [{"id": n, "title": f"Task {n}", "dependencies": [n - 1] if n > 1 else []}
               for n in range(1, 201)]}
).encode()  # fmt: skip


def _finished(job):
    return ImportJob.objects.filter(pk=job.pk, status__in=ImportJob.FINISHED_STATUSES).exists


def test_a_worker_imports_a_job_once_though_it_is_delivered_twice(worker):
    process, queue, conn, log_path = worker
    user = UserFactory()
    project = ProjectFactory(owner=user)
    job = import_job_create(project=project, file_name="tasks.json", data=TASKS_JSON, actor=user)

    # The message the job's commit sent went to the default queue, which this worker
    # does not serve; these are a delivery and a redelivery of it.
    import_plan_job.apply_async(args=[job.pk], queue=queue, connection=conn)
    import_plan_job.apply_async(args=[job.pk], queue=queue, connection=conn)

    wait_for(_finished(job), process, log_path)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert (job.deliveries, job.result["created"]["tasks"]) == (1, 200)
    assert project.tasks.count() == 200
    assert DevPlanVersion.objects.filter(plan__project=project).count() == 1


def test_a_worker_records_why_a_job_failed_and_writes_nothing(worker):
    process, queue, conn, log_path = worker
    project = ProjectFactory()
    cycle = b"## A\n- one (after two)\n- two (after one)\n"
    job = import_job_create(project=project, file_name="PRD.md", data=cycle)

    import_plan_job.apply_async(args=[job.pk], queue=queue, connection=conn)

    wait_for(_finished(job), process, log_path)
    job.refresh_from_db()
    assert job.status == "failed" and "dependency cycle" in job.error
    assert job.error_file == "PRD.md" and bytes(job.data) == b""
    assert not Task.objects.exists() and not DevPlanVersion.objects.exists()
