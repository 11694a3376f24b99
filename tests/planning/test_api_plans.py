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


# Upload limits ------------------------------------------------------------------------


def test_an_upload_over_the_limit_is_a_413_naming_it_and_is_not_imported(
    api, project, settings
) -> None:
    settings.IMPORT_MAX_BYTES = 1024 * 1024
    tasks = json.dumps({"tasks": [{"id": 1, "title": "x" * (1024 * 1024)}]}).encode()

    response = _upload(api, "tasks.json", tasks)

    assert response.status_code == 413
    assert response.data["detail"] == "A plan file may be at most 1 MB (IMPORT_MAX_BYTES)."
    assert not Task.objects.exists()


def test_an_upload_whose_body_is_over_the_limit_is_refused_before_it_is_read(
    api, project, settings
) -> None:
    settings.IMPORT_MAX_BYTES = 1024
    # The body is never parsed: a multipart body that is no form at all proves it.
    response = api.generic(
        "POST",
        f"{BASE}/imports/",
        b"x" * (1024 + 65 * 1024),
        content_type="multipart/form-data; boundary=nothing",
    )

    assert response.status_code == 413
    assert "at most" in response.data["detail"] and response.data["file"] is None


def test_an_upload_without_a_file_is_a_400_in_the_import_error_shape(api, project) -> None:
    response = api.post(f"{BASE}/imports/", {"format": "auto"}, format="multipart")

    assert response.status_code == 400
    assert response.data == {"detail": "file: No file was submitted.", "file": None, "line": None}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"tasks": [{"id": 1, "title": "\\ud800"}]}', "lone surrogates"),
        ("[" * 1000 + "]" * 1000, "at most 64 levels"),
    ],
)
def test_a_tasks_json_postgresql_cannot_store_or_too_deep_is_a_400(api, project, body, problem):
    response = _upload(api, "tasks.json", body.encode())

    assert response.status_code == 400
    assert problem in response.data["detail"] and response.data["file"] == "tasks.json"
    assert not Task.objects.exists()


# Exports ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("markdown", "text/markdown"), ("json", "application/json"), ("gsd", "application/zip")],
)
def test_each_export_is_served_as_the_schema_documents_it(api, project, fmt, media_type):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = schema["paths"]["/api/v1/projects/{project_slug}/export/{fmt}/"]["get"]
    response = api.get(f"{BASE}/export/{fmt}/")

    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == media_type
    assert media_type in documented["responses"]["200"]["content"]
