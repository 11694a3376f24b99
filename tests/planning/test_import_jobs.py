"""An import job's life: stored, imported once by a worker's task, failed with its
reason and nothing written, and recovered by the sweep when its message or worker is
lost; and its progress by row while the worker applies the file."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import caches
from django.utils import timezone

from cli.commands.plans import job_stage_line
from planning.importers import ImportSource
from planning.models import DevPlanVersion, ImportJob, Task
from planning.selectors import import_job_rows_key
from planning.services.import_jobs import (
    STAGES,
    _rows_reporter,
    import_job_create,
    import_job_execute,
    import_jobs_recover,
    import_wanted_in_background,
)
from planning.services.imports import plan_import

pytestmark = pytest.mark.django_db

TASKS_JSON = json.dumps(
    {
        "tasks": [
            {"id": 1, "title": "Schema", "status": "done", "dependencies": []},
            {"id": 2, "title": "API", "dependencies": [1]},
        ]
    }
).encode()


def _create(project, user, django_capture_on_commit_callbacks, data=TASKS_JSON, name="tasks.json"):
    with django_capture_on_commit_callbacks() as callbacks:
        job = import_job_create(project=project, file_name=name, data=data, actor=user)
    assert len(callbacks) == 1  # the worker's task is sent once the job is committed
    return job


def test_a_job_is_imported_once_however_often_it_is_delivered(
    project, user, django_capture_on_commit_callbacks
):
    job = _create(project, user, django_capture_on_commit_callbacks)
    assert (job.status, job.progress, job.size) == ("queued", 0, len(TASKS_JSON))
    import_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.stage, job.progress) == ("succeeded", "done", 100)
    assert job.result["created"]["tasks"] == 2 and job.result["version"] == 1
    assert bytes(job.data) == b""  # the stored file is not kept once imported
    assert dict(project.tasks.values_list("key", "status")) == {"1": "done", "2": "pending"}
    assert import_job_execute(job_id=job.pk) is None  # delivered again: skipped
    assert DevPlanVersion.objects.count() == 1 and project.tasks.count() == 2
    assert DevPlanVersion.objects.get().created_by == user


def test_a_file_that_cannot_be_imported_fails_with_its_line_and_writes_nothing(
    project, user, django_capture_on_commit_callbacks
):
    bad = b'{"tasks": [{"id": 1, "title": "a", "dependencies": [2]}]}'
    job = _create(project, user, django_capture_on_commit_callbacks, data=bad)
    import_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.error_file, job.error_line) == ("failed", "tasks.json", 1)
    assert job.error.startswith("tasks.json:1: task 1 depends on 2")
    assert not Task.objects.exists() and not DevPlanVersion.objects.exists()


def test_a_cycle_found_while_applying_leaves_no_half_written_plan(
    project, user, django_capture_on_commit_callbacks
):
    cycle = b"## A\n- one (after two)\n- two (after one)\n"
    job = _create(project, user, django_capture_on_commit_callbacks, data=cycle, name="PRD.md")
    import_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "dependency cycle" in job.error
    assert not Task.objects.exists() and not DevPlanVersion.objects.exists()


def test_the_sweep_sends_a_lost_message_again_and_delivers_a_dead_workers_job_again(
    project, user, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_JOB_MAX_DELIVERIES = 2
    job = _create(project, user, django_capture_on_commit_callbacks)
    now = timezone.now()
    assert import_jobs_recover(now=now) == 0  # its message may still be on its way
    later = now + timedelta(seconds=settings.QUEUED_RESEND_S + 1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert import_jobs_recover(now=later) == 1
    assert len(callbacks) == 1

    # A worker takes it and dies (nothing runs the import): its lease runs out.
    ImportJob.objects.filter(pk=job.pk).update(status="running", deliveries=1, lease_expires_at=now)
    with django_capture_on_commit_callbacks() as callbacks:
        assert import_jobs_recover(now=later) == 1
    job.refresh_from_db()
    assert (job.status, job.deliveries, len(callbacks)) == ("queued", 1, 1)
    import_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.deliveries) == ("succeeded", 2)


def test_a_job_whose_worker_keeps_dying_fails_with_the_reason(
    project, user, settings, django_capture_on_commit_callbacks
):
    job = _create(project, user, django_capture_on_commit_callbacks)
    ImportJob.objects.filter(pk=job.pk).update(
        status="running",
        deliveries=settings.IMPORT_JOB_MAX_DELIVERIES,
        lease_expires_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert import_jobs_recover(now=timezone.now() + timedelta(seconds=1)) == 1
    job.refresh_from_db()
    assert job.status == "failed" and not callbacks
    assert job.error.startswith(f"The worker importing this file stopped {job.deliveries} times")
    assert not Task.objects.exists()


def test_a_job_the_sweep_gave_to_another_delivery_is_not_finished_by_the_first(
    project, user, django_capture_on_commit_callbacks
):
    job = _create(project, user, django_capture_on_commit_callbacks)
    # Taken, then (its lease ran out) queued again and taken by a second delivery.
    ImportJob.objects.filter(pk=job.pk).update(status="running", deliveries=5)
    assert import_job_execute(job_id=job.pk) is None
    assert not Task.objects.exists()


def test_large_files_or_an_explicit_ask_go_to_a_worker(settings):
    settings.IMPORT_ASYNC_BYTES = 1000
    assert not import_wanted_in_background(size=1000)
    assert import_wanted_in_background(size=1001)
    assert import_wanted_in_background(size=10, asked=True)


def _tasks_json(count: int) -> bytes:
    tasks = [{"id": n, "title": f"Task {n}", "dependencies": []} for n in range(1, count + 1)]
    return json.dumps({"tasks": tasks}).encode()


def test_an_import_reports_its_rows_applied_a_batch_at_a_time(project, user):
    reports = []
    source = ImportSource.from_bytes("tasks.json", _tasks_json(2_500))
    plan_import(project=project, source=source, actor=user, progress=lambda *r: reports.append(r))
    # The feature Task Master's tag becomes, then its 2,500 tasks: 2,501 rows.
    assert reports == [(1, 2_501), (1_001, 2_501), (2_001, 2_501), (2_501, 2_501)]


def test_a_running_jobs_rows_show_in_its_status_its_page_and_the_cli(
    project, user, api, browser, django_capture_on_commit_callbacks
):
    job = _create(project, user, django_capture_on_commit_callbacks)
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", stage="importing", progress=STAGES["importing"], deliveries=1
    )
    job.refresh_from_db()
    _rows_reporter(job)(1_000, 2_500)

    url = f"/api/v1/projects/{project.slug}/imports/{job.pk}/"
    status = api.get(url).data
    assert (status["rows_applied"], status["rows_total"], status["progress"]) == (1_000, 2_500, 50)
    assert job_stage_line(status) == "importing: 1,000 of 2,500 rows"
    page = browser.get(f"/projects/{project.slug}/imports/{job.pk}/").content.decode()
    assert "1000 of 2500 rows" in page

    # A delivery after the worker died starts from nothing, not from its count.
    ImportJob.objects.filter(pk=job.pk).update(deliveries=2)
    status = api.get(url).data
    assert (status["rows_applied"], status["progress"]) == (None, STAGES["importing"])


def test_a_finished_job_shows_no_rows_and_leaves_no_count_behind(
    project, user, api, django_capture_on_commit_callbacks
):
    job = _create(project, user, django_capture_on_commit_callbacks, data=_tasks_json(1_500))
    import_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and project.tasks.count() == 1_500
    assert caches[settings.SHARED_CACHE_ALIAS].get(import_job_rows_key(job.pk, 1)) is None
    status = api.get(f"/api/v1/projects/{project.slug}/imports/{job.pk}/").data
    assert (status["rows_applied"], status["rows_total"], status["progress"]) == (None, None, 100)
