"""A worker's import of a file from another source: it waits with its whole preview
until replace, merge or cancel is chosen, and a day without a choice drops it."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from planning.models import DevPlanVersion, ImportJob, Task
from planning.services.import_jobs import (
    ImportJobStateError,
    import_job_choose,
    import_job_create,
    import_job_execute,
    import_jobs_recover,
)
from planning.services.imports import preview_record_as_dict

pytestmark = pytest.mark.django_db

OLD = json.dumps({"tasks": [{"id": 1, "title": "Schema", "status": "done"}]}).encode()
PRD = "# Shop\n\n## Accounts\n\n" + "".join(f"- Page {n}\n" for n in range(1, 131))


def _imported(project, user, data, name, capture):
    with capture() as callbacks:
        job = import_job_create(project=project, file_name=name, data=data, actor=user)
    assert len(callbacks) == 1
    import_job_execute(job_id=job.pk)
    job.refresh_from_db()
    return job


@pytest.fixture
def waiting(project, user, django_capture_on_commit_callbacks):
    """A plan from tasks.json, then a PRD of 130 tasks from another source."""
    first = _imported(project, user, OLD, "tasks.json", django_capture_on_commit_callbacks)
    assert first.status == "succeeded"
    job = _imported(project, user, PRD.encode(), "PRD.md", django_capture_on_commit_callbacks)
    assert job.status == "awaiting_choice", job.error
    return job


def test_another_source_waits_with_every_task_of_its_preview_and_writes_nothing(waiting):
    preview = waiting.result["preview"]
    assert preview["counts"] == {"added": 130, "changed": 0, "removed": 1}
    assert len(preview["added"]) == 130 and preview["removed"] == [{"key": "1", "name": "Schema"}]
    assert (preview["file_source"], preview["plan_sources"]) == (
        "markdown:PRD",
        ["taskmaster:tasks"],
    )
    assert bytes(waiting.data) == PRD.encode()  # kept for the choice
    assert waiting.lease_expires_at > timezone.now() + timedelta(hours=23)
    assert list(Task.objects.values_list("name", "status")) == [("Schema", "done")]
    assert DevPlanVersion.objects.count() == 1

    second = preview_record_as_dict(preview, page=2, size=100)
    assert second["tasks"]["page"] == 2 and second["tasks"]["pages"] == 2
    assert [row["name"] for row in second["tasks"]["added"]][:2] == ["Page 101", "Page 102"]
    assert second["choices"] == ["replace", "merge"]


def test_merge_queues_the_job_again_in_that_mode_and_a_second_choice_is_refused(
    waiting, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        job = import_job_choose(job=waiting, mode="merge")
    assert (job.status, job.mode, job.result, len(callbacks)) == ("queued", "merge", {}, 1)
    with pytest.raises(ImportJobStateError, match="is not waiting for a choice"):
        import_job_choose(job=waiting, mode="replace")

    import_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.result["created"]["tasks"] == 130
    assert Task.objects.get(key="1").status == "done" and Task.objects.count() == 131
    assert bytes(job.data) == b""


def test_replace_makes_the_plan_the_file(waiting, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        import_job_choose(job=waiting, mode="replace")
    import_job_execute(job_id=waiting.pk)
    waiting.refresh_from_db()
    assert waiting.status == "succeeded" and waiting.result["removed"]["tasks"] == 1
    assert not Task.objects.filter(name="Schema").exists() and Task.objects.count() == 130


def test_cancel_ends_the_job_and_drops_the_file(waiting, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = import_job_choose(job=waiting, mode="cancel")
    assert (job.status, job.error, bytes(job.data), callbacks) == (
        "failed",
        "Cancelled: nothing was imported.",
        b"",
        [],
    )
    assert Task.objects.count() == 1


def test_ask_is_not_a_choice(waiting):
    with pytest.raises(ValueError, match="replace, merge or cancel"):
        import_job_choose(job=waiting, mode="ask")
    waiting.refresh_from_db()
    assert waiting.status == "awaiting_choice"


def test_a_day_without_a_choice_drops_the_file(waiting):
    assert import_jobs_recover(now=timezone.now() + timedelta(hours=1)) == 0
    assert import_jobs_recover(now=timezone.now() + timedelta(days=1, minutes=1)) == 1
    waiting.refresh_from_db()
    assert waiting.status == "failed" and waiting.error.startswith(
        "No choice was made within a day"
    )
    assert bytes(waiting.data) == b"" and Task.objects.count() == 1
    assert ImportJob.objects.filter(status="awaiting_choice").count() == 0
