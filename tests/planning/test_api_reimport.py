"""Importing another source over the REST API: a 409 preview until a mode is chosen;
restore answers with the tasks it reset."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from planning.models import DevPlanVersion, Task

pytestmark = pytest.mark.django_db

BASE = "/api/v1/projects/crewboard"
PRD = b"# Shop\n\n## Accounts\n\n- Sign-up form\n- Login page\n- Password reset\n"


def _upload(client, name, data, **fields):
    return client.post(
        f"{BASE}/imports/", {"file": SimpleUploadedFile(name, data), **fields}, format="multipart"
    )


def _tasks_json(*titles):
    tasks = [{"id": n, "title": title} for n, title in enumerate(titles, start=1)]
    return json.dumps({"tasks": tasks}).encode()


def test_another_source_is_a_409_preview_until_a_mode_is_given(api, project):
    assert _upload(api, "tasks.json", _tasks_json("Old")).status_code == 201
    Task.objects.filter(key="1").update(status="done")

    preview = _upload(api, "PRD.md", PRD, page=2)
    assert preview.status_code == 409, preview.data
    assert "nothing was imported" in preview.data["detail"]
    body = preview.data["preview"]
    assert body["file_source"] == "markdown:PRD" and body["plan_sources"] == ["taskmaster:tasks"]
    assert body["counts"] == {"added": 3, "changed": 0, "removed": 1}
    assert body["choices"] == ["replace", "merge"]
    assert body["tasks"]["page"] == 1 and body["tasks"]["pages"] == 1  # page 2 is past the end
    assert [t["name"] for t in body["tasks"]["added"]] == [
        "Sign-up form",
        "Login page",
        "Password reset",
    ]
    assert list(Task.objects.values_list("name", "status")) == [("Old", "done")]
    assert DevPlanVersion.objects.count() == 1

    merged = _upload(api, "PRD.md", PRD, mode="merge")
    assert merged.status_code == 201, merged.data
    assert merged.data["applied"] and merged.data["mode"] == "merge"
    assert merged.data["created"]["tasks"] == 3 and merged.data["removed"] == {}
    assert Task.objects.get(key="1").status == "done"

    replaced = _upload(api, "other.json", _tasks_json("New"), mode="replace")
    assert replaced.status_code == 201, replaced.data
    assert replaced.data["removed"]["tasks"] == 4
    assert list(Task.objects.values_list("key", "name", "status")) == [("1", "New", "pending")]


def test_an_unknown_mode_is_a_400_and_writes_nothing(api, project):
    response = _upload(api, "tasks.json", _tasks_json("A"), mode="overwrite")
    assert response.status_code == 400
    assert "mode" in response.data["detail"]
    assert not Task.objects.exists()


def test_a_preview_takes_the_same_queries_for_ten_tasks_as_for_a_hundred(
    api, project, django_assert_max_num_queries
):
    _upload(api, "tasks.json", _tasks_json("Old"))
    for count in (10, 100):
        prd = "## Work\n\n" + "".join(f"- Item {n}\n" for n in range(count))
        with django_assert_max_num_queries(40):
            assert _upload(api, "PRD.md", prd.encode()).status_code == 409


def test_restore_answers_with_the_tasks_it_reset(api, project):
    _upload(api, "tasks.json", _tasks_json("A", "B"))
    Task.objects.filter(key="1").update(name="A, but another task", status="done")
    Task.objects.filter(key="2").update(status="done")
    response = api.post(f"{BASE}/versions/1/restore/")
    assert response.status_code == 201, response.data
    assert response.data["reset"] == ["1"]
    assert dict(Task.objects.values_list("key", "status")) == {"1": "pending", "2": "done"}
