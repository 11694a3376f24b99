"""The planning models' JSON fields keep their declared shapes, and readers survive old rows.

Writes of a wrong shape are refused at the service boundary (the API, the admin, imports);
a row forced into the database by raw SQL (as rows saved before the shapes existed are)
is skipped with a warning by every reader instead of answering 500.
"""

import io
import json
import logging
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agents.services.planner import plan_generation_execute
from planning.models import DevPlanVersion, SubFeature, Task
from planning.services.chat import chat_session_create
from planning.services.versions import version_create
from tests.factories import AgentFactory, FeatureFactory, SubFeatureFactory, TaskFactory
from tests.fakes.openai_server import completion

pytestmark = pytest.mark.django_db

BAD_FILES = [5, [["a"], {"b": 1}], "src/a.py", None, {"path": "a"}]


@pytest.fixture
def plan(project):
    feature = FeatureFactory(project=project, key="01")
    sub = SubFeatureFactory(feature=feature, key="01-01", files_modified=["src/a.py"])
    task = TaskFactory(
        project=project, feature=feature, sub_feature=sub, key="T1", files=["src/a.py"]
    )
    return sub, task


def _poison(sub: SubFeature, task: Task) -> None:
    # What a row saved before the shapes were checked looks like: raw SQL bypasses them.
    Task.objects.filter(pk=task.pk).update(files=[["a"], {"b": 1}], extra=["not", "an object"])
    SubFeature.objects.filter(pk=sub.pk).update(
        files_modified=True, must_haves="all of it", extra=7
    )


# Writes are refused, naming the field ---------------------------------------------------


@pytest.mark.parametrize("files", BAD_FILES)
def test_a_task_patch_with_badly_shaped_files_is_400_naming_the_field(api, project, plan, files):
    _, task = plan
    response = api.patch(
        f"/api/v1/projects/{project.slug}/tasks/T1/", {"files": files, "name": "x"}, format="json"
    )
    assert response.status_code == 400, response.data
    assert "files" in response.data
    task.refresh_from_db()
    assert task.files == ["src/a.py"] and task.name != "x"


def test_a_task_patch_says_what_is_wrong(api, project, plan):
    response = api.patch(f"/api/v1/projects/{project.slug}/tasks/T1/", {"files": 5}, format="json")
    assert response.data["files"] == ["expected an array, not a number (5)"]
    response = api.patch(
        f"/api/v1/projects/{project.slug}/tasks/T1/", {"files": ["a", {"b": 1}]}, format="json"
    )
    assert response.data["files"] == ["[1]: expected a string, not an object"]


def test_a_task_with_too_many_files_is_refused(api, project, plan):
    response = api.patch(
        f"/api/v1/projects/{project.slug}/tasks/T1/",
        {"files": [f"f{i}" for i in range(1001)]},
        format="json",
    )
    assert response.status_code == 400
    assert response.data["files"] == ["at most 1000 items, not 1001"]


def test_a_task_create_with_bad_extra_writes_nothing(api, project, plan):
    for extra in (5, [], {"read_first": "a.py"}, {"options": [1]}):
        response = api.post(
            f"/api/v1/projects/{project.slug}/tasks/",
            {"key": "T2", "name": "New", "extra": extra},
            format="json",
        )
        assert response.status_code == 400, extra
        assert "extra" in response.data
    assert not Task.objects.filter(key="T2").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("files_modified", True),
        ("files_modified", [1, 2]),
        ("must_haves", ["a truth"]),
        ("must_haves", {"truths": "one"}),
        ("extra", "text"),
        ("extra", {"external_depends_on": [3]}),
    ],
)
def test_a_sub_feature_patch_with_a_bad_shape_is_400(api, project, plan, field, value):
    sub, _ = plan
    response = api.patch(
        f"/api/v1/projects/{project.slug}/sub-features/01-01/", {field: value}, format="json"
    )
    assert response.status_code == 400, response.data
    assert field in response.data
    sub.refresh_from_db()
    assert sub.files_modified == ["src/a.py"]


def test_well_shaped_values_are_kept(api, project, plan):
    response = api.patch(
        f"/api/v1/projects/{project.slug}/tasks/T1/",
        {"files": ["b.py"], "extra": {"read_first": ["c.py"], "anything": {"x": [1]}}},
        format="json",
    )
    assert response.status_code == 200, response.data
    assert Task.objects.get(key="T1").extra["anything"] == {"x": [1]}


def test_the_admin_shows_a_bad_shape_as_a_form_error(admin_client, project, plan):
    _, task = plan
    url = reverse("admin:planning_task_change", args=[task.pk])
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(files="5", extra="{}", description="changed")
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["files"] == [
        "expected an array, not a number (5)"
    ]
    task.refresh_from_db()
    assert task.files == ["src/a.py"] and task.description != "changed"


def test_an_import_with_a_badly_shaped_extra_is_refused(api, project):
    # Unknown task keys of a tasks.json are kept in `extra`, where the GSD export reads
    # `options` as a list of objects.
    document = {"tasks": [{"id": 1, "title": "One", "status": "pending", "options": [1]}]}
    response = api.post(
        f"/api/v1/projects/{project.slug}/imports/",
        {"file": SimpleUploadedFile("tasks.json", json.dumps(document).encode())},
        format="multipart",
    )
    assert response.status_code == 400, response.data
    assert "extra ['options'][0]: expected an object, not a number (1)" in str(response.data)
    assert not Task.objects.filter(project=project).exists()


# Readers survive rows written before the shapes were checked ------------------------------


def test_saving_a_version_skips_bad_values_and_warns(api, project, plan, caplog):
    sub, task = plan
    _poison(sub, task)
    with caplog.at_level(logging.WARNING, logger="core.shapes"):
        response = api.post(f"/api/v1/projects/{project.slug}/versions/", {}, format="json")
    assert response.status_code == 201, response.data
    snapshot = DevPlanVersion.objects.get().snapshot
    assert snapshot["tasks"][0]["files"] == [] and snapshot["tasks"][0]["extra"] == {}
    assert snapshot["sub_features"][0]["files_modified"] == []
    assert "Skipping a malformed files on task T1" in caplog.text


@pytest.mark.parametrize("fmt", ["markdown", "gsd", "taskmaster", "json"])
def test_exports_skip_bad_values(api, browser, project, plan, fmt):
    sub, task = plan
    _poison(sub, task)
    response = api.get(f"/api/v1/projects/{project.slug}/export/{fmt}/")
    assert response.status_code in (200, 400), fmt
    assert response.status_code == 200 or fmt not in ("markdown", "gsd")
    page = browser.get(reverse("planning:project-export", args=[project.slug, fmt]))
    assert page.status_code in (200, 400)


def test_analytics_skip_bad_values(api, browser, project, plan):
    sub, task = plan
    _poison(sub, task)
    assert api.get(f"/api/v1/projects/{project.slug}/analytics/").status_code == 200
    assert (
        browser.get(reverse("planning:project-analytics", args=[project.slug])).status_code == 200
    )


@pytest.mark.usefixtures("plan")
def test_a_version_diff_and_restore_of_a_poisoned_snapshot_do_not_fail(api, browser, project):
    version_create(project=project, summary="good")
    # An immutable row cannot be repaired, so its reader must cope: forced past the
    # trigger the way a row from before the shapes would be there.
    first = DevPlanVersion.objects.get()
    bad = json.loads(json.dumps(first.snapshot))
    bad["tasks"][0]["files"] = 5
    bad["sub_features"][0]["files_modified"] = True
    DevPlanVersion.objects.create(
        plan=first.plan, number=2, snapshot=bad, change_summary="poisoned"
    )
    base = f"/api/v1/projects/{project.slug}/versions"
    assert api.get(f"{base}/2/").status_code == 200
    assert api.get(f"{base}/2/diff/", {"against": 1}).status_code == 200
    assert api.get(f"{base}/2/export/markdown/").status_code == 200
    pages = (
        ("planning:version-detail", [project.slug, 2]),
        (
            "planning:version-export",
            [project.slug, 2, "gsd"],
        ),
    )
    for name, args in pages:
        assert browser.get(reverse(name, args=args)).status_code == 200, name
    diff = browser.get(reverse("planning:version-diff", args=[project.slug]), {"from": 1, "to": 2})
    assert diff.status_code == 200
    restored = api.post(f"{base}/2/restore/", {}, format="json")
    assert restored.status_code in (200, 201), restored.data
    assert Task.objects.get(key="T1").files == []


def test_chat_with_a_poisoned_plan_answers(api, user, project, plan, fake_llm):
    sub, task = plan
    _poison(sub, task)
    session = chat_session_create(project=project, actor=user)
    fake_llm.script(completion(json.dumps({"reply": "Looks fine.", "edits": []})))
    response = api.post(
        f"/api/v1/projects/{project.slug}/chats/{session.pk}/messages/",
        {"content": "What is next?"},
        format="json",
    )
    assert response.status_code == 201, response.data


def test_starting_a_run_on_a_poisoned_task_works(
    api, project, plan, coding_model, django_capture_on_commit_callbacks
):
    sub, task = plan
    _poison(sub, task)
    AgentFactory(project=project, name="coder-1")
    with django_capture_on_commit_callbacks():
        response = api.post(f"/api/v1/projects/{project.slug}/run/", {"action": "start"})
    assert response.status_code == 200, response.data
    assert len(response.data["started"]) == 1


def test_generating_a_plan_over_a_poisoned_one_finishes(
    api, project, plan, django_capture_on_commit_callbacks
):
    sub, task = plan
    _poison(sub, task)
    with django_capture_on_commit_callbacks():
        response = api.post(
            f"/api/v1/projects/{project.slug}/generate/", {"requirements": "## Core\n- Models"}
        )
    assert response.status_code == 202, response.data
    plan_generation_execute(run_id=response.data["id"])
    run = api.get(f"/api/v1/projects/{project.slug}/agent-runs/{response.data['id']}/").data
    assert run["status"] == "succeeded", run["result"]


@pytest.mark.usefixtures("plan")
def test_a_decision_options_pros_as_a_list_export_as_lines(api, project):
    options = [{"id": "pg", "name": "PostgreSQL", "pros": ["SKIP LOCKED", "JSONB"]}]
    response = api.patch(
        f"/api/v1/projects/{project.slug}/tasks/T1/",
        {"extra": {"options": options}},
        format="json",
    )
    assert response.status_code == 200, response.data
    exported = api.get(f"/api/v1/projects/{project.slug}/export/gsd/")
    assert exported.status_code == 200
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        plan_file = next(name for name in archive.namelist() if name.endswith("-PLAN.md"))
        text = archive.read(plan_file).decode()
    assert "<pros>\nSKIP LOCKED\nJSONB\n      </pros>" in text
