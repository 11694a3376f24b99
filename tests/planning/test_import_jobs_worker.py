"""Import jobs carried out by a real Celery worker process."""

import json

import pytest
from django.db import connection, transaction

from planning.models import DevPlan, DevPlanVersion, ImportJob, Task
from planning.selectors import ImportRows, import_job_rows
from planning.services.import_jobs import STAGES, import_job_create
from planning.services.versions import dev_plan_for
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


def test_a_watcher_sees_the_rows_applied_before_the_import_commits(worker):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite lets one writer in at a time")
    process, queue, conn, log_path = worker
    user = UserFactory()
    project = ProjectFactory(owner=user)
    plan = dev_plan_for(project=project)
    data = json.dumps(
        {"tasks": [{"id": n, "title": f"Task {n}"} for n in range(1, 1_501)]}
    ).encode()
    job = import_job_create(project=project, file_name="tasks.json", data=data, actor=user)

    def rows():
        job.refresh_from_db()
        return import_job_rows(job=job)

    # Holding the plan's row, this test stops the import at its version, after the rows.
    with transaction.atomic():
        DevPlan.objects.select_for_update().get(pk=plan.pk)
        import_plan_job.apply_async(args=[job.pk], queue=queue, connection=conn)
        wait_for(lambda: (r := rows()) is not None and r.applied == r.total, process, log_path)
        assert rows() == ImportRows(applied=1_501, total=1_501)  # a feature and 1,500 tasks
        assert job.status == "running" and job.progress == STAGES["importing"]
        assert not Task.objects.filter(project=project).exists()  # not committed yet

    wait_for(_finished(job), process, log_path)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert rows() is None and project.tasks.count() == 1_500
