"""Import, versions, diff, restore and export over the REST API."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from planning.models import DevPlanVersion, Task
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/projects/crewboard"
DEMO = Path(__file__).resolve().parents[2] / "planning" / "demo" / ".planning"


def _demo_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in DEMO.rglob("*"):
            if file.is_file():
                archive.write(file, f".planning/{file.relative_to(DEMO)}")
    return buffer.getvalue()


def _upload(client, name, data, fmt="auto"):
    return client.post(
        f"{BASE}/imports/",
        {"file": SimpleUploadedFile(name, data), "format": fmt},
        format="multipart",
    )


def test_import_then_reimport(api, project):
    response = _upload(api, "planning.zip", _demo_zip())
    assert response.status_code == 201, response.data
    assert response.data["version"] == 1
    assert response.data["created"]["tasks"] == 10
    assert project.tasks.count() == 10
    again = _upload(api, "planning.zip", _demo_zip())
    assert again.status_code == 201
    assert again.data["version"] is None and again.data["summary"] == "no changes"
    assert DevPlanVersion.objects.count() == 1


def test_import_error_names_file_and_line_and_writes_nothing(api, project):
    response = _upload(api, "01-01-PLAN.md", b"---\nphase: 1\nplan: [\n---\n")
    assert response.status_code == 400
    assert response.data["file"] == "01-01-PLAN.md"
    assert response.data["line"] == 4  # where YAML found the unclosed "[": the closing ---
    assert "front matter" in response.data["detail"]
    assert not Task.objects.exists() and not DevPlanVersion.objects.exists()


def test_import_needs_write_access_and_membership(viewer_api, api, project, other_project):
    assert _upload(viewer_api, "planning.zip", _demo_zip()).status_code == 403
    response = api.post(
        f"/api/v1/projects/{other_project.slug}/imports/",
        {"file": SimpleUploadedFile("tasks.json", b'{"tasks": []}')},
        format="multipart",
    )
    assert response.status_code == 404
    assert not Task.objects.exists()


def test_versions_list_detail_save_diff_restore(api, project):
    _upload(api, "planning.zip", _demo_zip())
    Task.objects.filter(key="03-01-T1").update(name="Renamed")
    TaskFactory(project=project, key="EXTRA")
    saved = api.post(f"{BASE}/versions/", {"summary": "after edits"})
    assert saved.status_code == 201 and saved.data["number"] == 2
    listing = api.get(f"{BASE}/versions/")
    assert [v["number"] for v in listing.data["results"]] == [2, 1]
    assert "snapshot" not in listing.data["results"][0]
    detail = api.get(f"{BASE}/versions/1/")
    assert len(detail.data["snapshot"]["tasks"]) == 10
    diff = api.get(f"{BASE}/versions/2/diff/").data
    assert diff["tasks"]["added"] == ["EXTRA"]
    assert diff["tasks"]["changed"][0]["fields"]["name"] == {
        "before": "Step loop",
        "after": "Renamed",
    }
    against_working = api.get(f"{BASE}/versions/1/diff/", {"against": "working"}).data
    assert against_working["tasks"]["added"] == ["EXTRA"]
    assert api.get(f"{BASE}/versions/1/diff/", {"against": "x"}).status_code == 400
    assert api.get(f"{BASE}/versions/9/").status_code == 404
    restored = api.post(f"{BASE}/versions/1/restore/")
    assert restored.status_code == 201 and restored.data["version"]["number"] == 3
    assert not project.tasks.filter(key="EXTRA").exists()
    assert project.tasks.get(key="03-01-T1").name == "Step loop"


def test_viewer_cannot_save_or_restore(viewer_api, api, project):
    _upload(api, "planning.zip", _demo_zip())
    assert viewer_api.get(f"{BASE}/versions/").status_code == 200
    assert viewer_api.post(f"{BASE}/versions/", {}).status_code == 403
    assert viewer_api.post(f"{BASE}/versions/1/restore/").status_code == 403
    assert DevPlanVersion.objects.count() == 1


@pytest.mark.parametrize(
    "fmt,content_type,filename",
    [
        ("markdown", "text/markdown; charset=utf-8", "crewboard.md"),
        ("json", "application/json", "crewboard.json"),
        ("gsd", "application/zip", "crewboard-planning.zip"),
        ("taskmaster", "application/json", "tasks.json"),
    ],
)
def test_exports_of_working_plan_and_version(api, project, fmt, content_type, filename):
    _upload(api, "planning.zip", _demo_zip())
    response = api.get(f"{BASE}/export/{fmt}/")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    if fmt == "gsd":
        assert ".planning/ROADMAP.md" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    if fmt == "json":
        assert len(json.loads(response.content)["tasks"]) == 10
    versioned = api.get(f"{BASE}/versions/1/export/{fmt}/")
    assert versioned.status_code == 200 and versioned.content


def test_unknown_export_format_is_400(api, project):
    assert api.get(f"{BASE}/export/docx/").status_code == 400


@pytest.mark.parametrize("count", [3, 30])
def test_version_list_query_count_is_constant(api, project, count, django_assert_max_num_queries):
    from planning.services.versions import version_create

    TaskFactory(project=project)
    for i in range(count):
        version_create(project=project, summary=f"v{i}", only_if_changed=False)
    with django_assert_max_num_queries(4):
        response = api.get(f"{BASE}/versions/")
    assert response.data["count"] == count
