"""A large plan file uploaded on the project page: imported by a worker, its progress
shown in place of the form and polled until the import ends."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from planning.models import ImportJob
from planning.services.import_jobs import import_job_execute
from tests.factories import ProjectFactory
from tests.planning.views.pages import HTMX, url
from tests.planning.views.plan_files import upload

pytestmark = pytest.mark.django_db

TASKS_JSON = json.dumps({"tasks": [{"id": n, "title": f"Task {n}"} for n in range(1, 60)]})


@pytest.fixture(autouse=True)
def small_threshold(settings):
    settings.IMPORT_ASYNC_BYTES = 512


def test_a_large_upload_shows_its_progress_then_its_outcome(
    browser, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = browser.post(
            url("project-import"), upload("tasks.json", TASKS_JSON.encode()), **HTMX
        )
    assert response.status_code == 200
    job = ImportJob.objects.get()
    poll = url("import-job", job.pk)
    html = response.content.decode()
    assert 'id="plan-import-form"' in html and f'hx-get="{poll}"' in html
    assert 'hx-trigger="every 2s"' in html and "Waiting for a worker" in html
    assert not project.tasks.exists()

    assert len(callbacks) == 1
    import_job_execute(job_id=job.pk)  # what the worker's task does
    done = browser.get(poll, **HTMX)
    html = done.content.decode()
    assert "every 2s" not in html  # polling stops once the import has ended
    assert "59 tasks" in html and "Version 1" in html
    assert "plan-changed" in json.loads(done.headers["HX-Trigger"])
    assert project.tasks.count() == 59


def test_without_htmx_the_upload_leads_to_the_jobs_page(browser, project):
    response = browser.post(url("project-import"), upload("tasks.json", TASKS_JSON.encode()))
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response.url == url("import-job", job.pk)
    page = browser.get(response.url)
    assert page.status_code == 200
    assert "Importing tasks.json" in page.content.decode()


def test_a_failed_import_shows_why(browser, project):
    bad = json.dumps({"tasks": [{"id": 1, "title": "x" * 600, "dependencies": [7]}]})
    browser.post(url("project-import"), upload("tasks.json", bad.encode()))
    job = ImportJob.objects.get()
    import_job_execute(job_id=job.pk)
    html = browser.get(url("import-job", job.pk), **HTMX).content.decode()
    assert 'role="alert"' in html and "tasks.json:1: task 1 depends on 7" in html
    assert "Nothing of the file was imported." in html


def test_another_projects_job_is_not_found(browser, project, user):
    other = ProjectFactory(owner=user, slug="other")
    browser.post(url("project-import"), upload("tasks.json", TASKS_JSON.encode()))
    job = ImportJob.objects.get()
    assert browser.get(reverse("planning:import-job", args=[other.slug, job.pk])).status_code == 404
    stranger = ProjectFactory(slug="strangers")
    path = reverse("planning:import-job", args=[stranger.slug, job.pk])
    assert browser.get(path).status_code == 404


PRD = "# Shop\n\n## Accounts\n\n" + "".join(f"- Page {n}\n" for n in range(1, 71))


def _waiting_job(browser, project):
    """The plan from tasks.json, then a large PRD from another source, both via a worker."""
    browser.post(url("project-import"), upload("tasks.json", TASKS_JSON.encode()))
    import_job_execute(job_id=ImportJob.objects.get().pk)
    browser.post(url("project-import"), upload("PRD.md", PRD.encode()))
    job = ImportJob.objects.latest("pk")
    import_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "awaiting_choice"
    return job


def test_a_large_file_from_another_source_shows_its_preview_and_the_choice(browser, project):
    job = _waiting_job(browser, project)
    html = browser.get(url("import-job", job.pk), **HTMX).content.decode()
    assert "every 2s" not in html  # nothing to poll while it waits for the person
    assert "<strong>70</strong> tasks added" in html and "<strong>59</strong> in the plan" in html
    assert "Page 1 of 2" in html and "Page 50" in html and "Page 51" not in html
    assert 'value="replace"' in html and 'value="merge"' in html and 'value="cancel"' in html
    second = browser.get(url("import-job", job.pk) + "?page=2", **HTMX).content.decode()
    assert "Page 2 of 2" in second and "Page 51" in second

    chosen = browser.post(url("import-job-choice", job.pk), {"mode": "merge"}, **HTMX)
    assert chosen.status_code == 200
    assert 'hx-trigger="every 2s"' in chosen.content.decode()  # queued again: polled
    import_job_execute(job_id=job.pk)
    assert project.tasks.count() == 129

    late = browser.post(url("import-job-choice", job.pk), {"mode": "cancel"}, **HTMX)
    assert late.status_code == 409
    assert "is not waiting for a choice (it is succeeded)" in late.content.decode()


def test_cancel_without_htmx_leads_back_to_the_jobs_page(browser, project):
    job = _waiting_job(browser, project)
    response = browser.post(url("import-job-choice", job.pk), {"mode": "cancel"})
    assert response.status_code == 302 and response["Location"] == url("import-job", job.pk)
    page = browser.get(response["Location"]).content.decode()
    assert "Cancelled: nothing was imported." in page
    assert project.tasks.count() == 59


def test_viewers_see_the_preview_without_the_buttons_and_cannot_choose(browser, project, viewer):
    job = _waiting_job(browser, project)
    client = Client()
    client.force_login(viewer)
    html = client.get(url("import-job", job.pk)).content.decode()
    assert "<strong>70</strong> tasks added" in html and 'value="merge"' not in html
    assert client.post(url("import-job-choice", job.pk), {"mode": "merge"}).status_code == 403
    bad = browser.post(url("import-job-choice", job.pk), {"mode": "ask"})
    assert bad.status_code == 400 and "Choose replace, merge or cancel." in bad.content.decode()
    job.refresh_from_db()
    assert job.status == "awaiting_choice"
