"""Large plan imports over the REST API: 202 with the job, and the job's status page."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from planning.models import DevPlanVersion, ImportJob, Task
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/projects/crewboard"
TASKS = [{"id": n, "title": f"Task {n}", "details": "x" * 200} for n in range(1, 41)]
TASKS_JSON = json.dumps({"tasks": TASKS}).encode()


def _upload(client, data=TASKS_JSON, name="tasks.json", query=""):
    return client.post(
        f"{BASE}/imports/{query}",
        {"file": SimpleUploadedFile(name, data), "format": "auto"},
        format="multipart",
    )


@pytest.fixture
def small_threshold(settings):
    settings.IMPORT_ASYNC_BYTES = 1024
    return settings


def test_a_large_file_is_accepted_for_a_worker_and_imported_by_it(
    api, project, small_threshold, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _upload(api)
    assert response.status_code == 202, response.data
    job = response.data
    assert (job["status"], job["progress"], job["file_name"]) == ("queued", 0, "tasks.json")
    assert job["url"].endswith(f"{BASE}/imports/{job['id']}/")
    assert response.headers["Location"] == job["url"]
    assert job["result"] is None and job["errors"] == [] and job["created_by"] == "alice"
    assert not Task.objects.exists()  # nothing imported while the request waited

    for callback in callbacks:  # the worker's turn
        callback()
    status = api.get(f"{BASE}/imports/{job['id']}/")
    assert status.status_code == 200
    assert (status.data["status"], status.data["progress"]) == ("succeeded", 100)
    assert status.data["result"]["created"]["tasks"] == 40
    assert status.data["result"]["version"] == 1
    assert project.tasks.count() == 40


def test_a_small_file_is_imported_at_once_unless_async_is_asked(api, project, settings):
    settings.IMPORT_ASYNC_BYTES = 10 * len(TASKS_JSON)
    assert _upload(api).status_code == 201
    asked = _upload(api, query="?async=1")
    assert asked.status_code == 202 and asked.data["status"] == "queued"
    assert ImportJob.objects.count() == 1


def test_a_failed_job_reports_its_errors(
    api, project, small_threshold, eager_celery, django_capture_on_commit_callbacks
):
    bad = json.dumps({"tasks": [{"id": 1, "title": "a", "dependencies": [99]}, *TASKS[1:]]})
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(api, data=bad.encode())
    status = api.get(f"{BASE}/imports/{response.data['id']}/").data
    assert status["status"] == "failed" and status["result"] is None
    [error] = status["errors"]
    assert (error["file"], error["line"]) == ("tasks.json", 1)
    assert error["detail"].startswith("tasks.json:1: task 1 depends on 99")
    assert not Task.objects.exists() and not DevPlanVersion.objects.exists()


def test_a_job_is_seen_by_members_only_and_in_its_own_project(
    api, viewer_api, project, small_threshold
):
    job_id = _upload(api).data["id"]
    assert viewer_api.get(f"{BASE}/imports/{job_id}/").status_code == 200
    assert _upload(viewer_api).status_code == 403  # viewers do not import
    other = ProjectFactory(owner=project.owner, slug="other")
    assert api.get(f"/api/v1/projects/{other.slug}/imports/{job_id}/").status_code == 404
    stranger = ProjectFactory(slug="strangers")
    assert api.get(f"/api/v1/projects/{stranger.slug}/imports/{job_id}/").status_code == 404


def test_a_jobs_status_costs_a_constant_number_of_queries(
    api, project, small_threshold, django_assert_max_num_queries
):
    job_id = _upload(api).data["id"]
    with django_assert_max_num_queries(5):
        assert api.get(f"{BASE}/imports/{job_id}/").status_code == 200


PRD = "# Shop\n\n## Accounts\n\n" + "".join(f"- Page {n} {'x' * 20}\n" for n in range(1, 131))


@pytest.fixture
def waiting_job(api, project, small_threshold, eager_celery, django_capture_on_commit_callbacks):
    """A plan from tasks.json, then a worker's job for a PRD from another source."""
    with django_capture_on_commit_callbacks(execute=True):
        assert _upload(api).status_code == 202
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(api, PRD.encode(), "PRD.md")
    assert response.status_code == 202
    return response.data["id"]


def test_another_source_waits_with_its_paged_preview_until_a_choice(
    api, project, waiting_job, django_capture_on_commit_callbacks
):
    job = api.get(f"{BASE}/imports/{waiting_job}/?page=2")
    assert (job.data["status"], job.data["result"], job.data["errors"]) == (
        "awaiting_choice",
        None,
        [],
    )
    preview = job.data["preview"]
    assert preview["counts"] == {"added": 130, "changed": 0, "removed": 40}
    assert preview["tasks"]["page"] == 2 and preview["tasks"]["pages"] == 2
    assert len(preview["tasks"]["added"]) == 30 and preview["choices"] == ["replace", "merge"]
    assert project.tasks.count() == 40

    with django_capture_on_commit_callbacks(execute=True):
        chosen = api.post(f"{BASE}/imports/{waiting_job}/choice/", {"mode": "merge"})
    assert chosen.status_code == 202 and chosen.data["mode"] == "merge"
    done = api.get(f"{BASE}/imports/{waiting_job}/")
    assert done.data["status"] == "succeeded" and done.data["preview"] is None
    assert done.data["result"]["created"]["tasks"] == 130 and project.tasks.count() == 170

    again = api.post(f"{BASE}/imports/{waiting_job}/choice/", {"mode": "replace"})
    assert again.status_code == 409
    assert (
        again.data["detail"]
        == "The import of PRD.md is not waiting for a choice (it is succeeded)."
    )


def test_a_bad_choice_or_a_viewers_choice_changes_nothing(api, viewer_api, project, waiting_job):
    bad = api.post(f"{BASE}/imports/{waiting_job}/choice/", {"mode": "ask"})
    assert bad.status_code == 400 and bad.data["detail"].startswith("mode:")
    assert (
        viewer_api.post(f"{BASE}/imports/{waiting_job}/choice/", {"mode": "merge"}).status_code
        == 403
    )
    assert ImportJob.objects.get(pk=waiting_job).status == "awaiting_choice"
    assert (
        api.post(
            f"/api/v1/projects/nope/imports/{waiting_job}/choice/", {"mode": "merge"}
        ).status_code
        == 404
    )
