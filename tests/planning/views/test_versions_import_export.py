"""The plan import form and the export downloads, of the working plan and of a version."""

import io
import json
import re
import zipfile

import pytest
from django.urls import reverse

from planning.models import DevPlanVersion, Task
from planning.selectors import plan_document
from tests.factories import ProjectFactory
from tests.planning.views.pages import HTMX, page_messages, url
from tests.planning.views.plan_files import (
    DEMO_TASKS,
    TASKS_JSON,
    change_the_plan,
    demo_zip,
    import_demo,
    upload,
)

pytestmark = pytest.mark.django_db

LONE_PLAN = """---
phase: 05
plan: 02
wave: 2
depends_on: ["05-01"]
---
<objective>A plan whose predecessor is not in the upload</objective>
<tasks>
<task type="auto"><name>Task 1: Do it</name><action>work</action></task>
</tasks>
"""
BROKEN_PLAN = b"---\nphase: 01\nplan: 01\nwave: [1\n---\n<tasks></tasks>\n"


def corrupt_zip() -> bytes:
    """A real zip whose first member (.planning/PROJECT.md) fails its CRC check."""
    data = bytearray(demo_zip())
    data[60] ^= 0xFF  # 30-byte header + 20-byte name, then the stored file's bytes
    return bytes(data)


# Import form -------------------------------------------------------------------------


def test_project_page_offers_import_save_and_every_export(browser, project):
    html = browser.get(reverse("planning:project-detail", args=["crewboard"])).content.decode()

    form = re.search(r'<form id="plan-import-form".*?</form>', html, re.S).group(0)
    assert 'enctype="multipart/form-data"' in form
    assert f'hx-post="{url("project-import")}"' in form
    assert 'type="file" name="file"' in form
    for fmt in ("auto", "gsd", "taskmaster", "markdown"):
        assert f'<option value="{fmt}"' in form
    assert f'hx-post="{url("version-list")}"' in html
    assert "Save version" in html
    for fmt in ("markdown", "json", "gsd", "taskmaster"):
        assert f'href="{url("project-export", fmt)}" download' in html
    assert f'href="{url("version-list")}"' in html  # the Versions tab


def test_uploading_a_gsd_zip_imports_the_plan_and_makes_a_version(browser, project, user):
    response = browser.post(url("project-import"), upload("planning.zip", demo_zip()))

    assert response.status_code == 302
    assert response.url == reverse("planning:project-detail", args=["crewboard"])
    assert Task.objects.filter(project=project).count() == DEMO_TASKS
    assert set(Task.objects.filter(status="done").values_list("key", flat=True)) == {
        "01-01-T1",
        "01-01-T2",
    }
    version = DevPlanVersion.objects.get()
    assert (version.number, version.created_by) == (1, user)
    assert version.change_summary.startswith("Imported planning.zip: added ")
    html = browser.get(response.url).content.decode()
    [message] = page_messages(html)
    assert message.startswith("Imported planning.zip: added ")
    assert f"{DEMO_TASKS} tasks" in message
    assert message.endswith("; version 1")
    assert html.count('<details class="feature"') == 4  # the plan's features, collapsed
    # A link to an imported task opens its feature and sub-feature, with its row.
    task = Task.objects.get(project=project, name="Repair mojibake")
    assert "Repair mojibake" in browser.get(f"{response.url}?task={task.key}").content.decode()


def test_uploading_a_tasks_json_with_htmx_redirects_the_client(browser, project):
    response = browser.post(
        url("project-import"),
        upload("tasks.json", json.dumps(TASKS_JSON).encode(), fmt="taskmaster"),
        **HTMX,
    )

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == reverse("planning:project-detail", args=["crewboard"])
    tasks = dict(Task.objects.filter(project=project).values_list("key", "name"))
    assert tasks == {"1": "Set up repo", "2": "Build API", "2.1": "Models"}
    assert DevPlanVersion.objects.get().number == 1


def test_imported_keys_with_slashes_keep_the_project_page_working(browser, project):
    # Task Master tags often come from branch names; the tag prefixes the task key.
    tagged = {"feature/auth": {"tasks": [{"id": 1, "title": "Login form"}]}}
    browser.post(url("project-import"), upload("tasks.json", json.dumps(tagged).encode()))

    page = browser.get(reverse("planning:project-detail", args=["crewboard"]))
    status = browser.post(url("task-status", "feature/auth:1"), {"status": "done"}, **HTMX)

    assert page.status_code == 200
    assert "Login form" in page.content.decode()
    assert status.status_code == 200
    assert Task.objects.get(key="feature/auth:1").status == "done"


def test_reuploading_the_same_zip_reports_no_changes_and_makes_no_version(browser, project):
    browser.post(url("project-import"), upload("planning.zip", demo_zip()))
    browser.get("/projects/crewboard/")  # consume the first message

    response = browser.post(url("project-import"), upload("planning.zip", demo_zip()), follow=True)

    assert page_messages(response.content.decode()) == ["Imported planning.zip: no changes"]
    assert DevPlanVersion.objects.count() == 1
    assert Task.objects.count() == DEMO_TASKS


def test_import_warnings_are_shown_with_the_message(browser, project):
    lone_plan = LONE_PLAN.encode()

    response = browser.post(url("project-import"), upload("05-02-PLAN.md", lone_plan), follow=True)

    shown = page_messages(response.content.decode())
    assert shown[0].startswith("Imported 05-02-PLAN.md: added ")
    assert "05-02-PLAN.md" in shown[1]
    assert "depends_on names &#x27;05-01&#x27;" in shown[1]
    assert "external dependency" in shown[1]
    assert 'class="message message--warning"' in response.content.decode()


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("01-01-PLAN.md", BROKEN_PLAN, "01-01-PLAN.md:"),
        (
            "tasks.json",
            json.dumps({"tasks": [{"id": 1, "title": "a", "dependencies": [99]}]}).encode(),
            "task 1 depends on 99",
        ),
        ("notes.pdf", b"%PDF-1.4 binary", "notes.pdf: cannot tell the format"),
        ("broken.zip", corrupt_zip(), "broken.zip: not a readable zip file"),
    ],
)
def test_a_broken_file_rerenders_the_form_with_the_error_and_writes_nothing(
    browser, project, name, data, expected
):
    import_demo(project)
    before = plan_document(project=project).to_snapshot()

    response = browser.post(url("project-import"), upload(name, data), **HTMX)

    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith('<form id="plan-import-form"')
    assert "<html" not in html
    assert 'class="field-error"' in html
    assert expected in html
    assert "HX-Redirect" not in response.headers
    assert plan_document(project=project).to_snapshot() == before
    assert DevPlanVersion.objects.count() == 1


def test_broken_front_matter_names_the_file_and_line_on_the_full_page(browser, project):
    response = browser.post(url("project-import"), upload("01-01-PLAN.md", BROKEN_PLAN))

    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" in html
    error = re.search(r'<p class="field-error" role="alert">(.*?)</p>', html, re.S).group(1)
    assert re.match(r"01-01-PLAN\.md:\d+: ", error)
    assert "front matter is not valid YAML" in error
    assert '<details class="menu" name="plan-menu" id="plan-import" open>' in html
    assert not Task.objects.exists()
    assert not DevPlanVersion.objects.exists()


def test_a_missing_file_is_a_form_error(browser, project):
    response = browser.post(url("project-import"), {"format": "auto"}, **HTMX)

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_an_unknown_format_is_a_form_error(browser, project):
    data = json.dumps(TASKS_JSON).encode()
    response = browser.post(url("project-import"), upload("tasks.json", data, fmt="docx"), **HTMX)

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Task.objects.exists()


# Export downloads --------------------------------------------------------------------


def check_download(response, fmt: str, filename: str) -> None:
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
    body = response.content
    assert body
    if fmt == "markdown":
        assert response.headers["Content-Type"] == "text/markdown; charset=utf-8"
        assert "Write the planning models" in body.decode()
    elif fmt == "gsd":
        assert response.headers["Content-Type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(body)).namelist()
        assert any(n.endswith("ROADMAP.md") for n in names)
        assert any(n.endswith("01-01-PLAN.md") for n in names)
    else:
        assert response.headers["Content-Type"] == "application/json"
        data = json.loads(body)
        assert data


EXPORTS = [
    ("markdown", "{stem}.md"),
    ("json", "{stem}.json"),
    ("gsd", "{stem}-planning.zip"),
    ("taskmaster", "tasks.json"),
]


@pytest.mark.parametrize(("fmt", "filename"), EXPORTS)
def test_working_plan_downloads(browser, project, fmt, filename):
    import_demo(project)
    change_the_plan(project)

    response = browser.get(url("project-export", fmt))

    check_download(response, fmt, filename.format(stem="crewboard"))
    if fmt == "json":
        assert "04-01-T1" in {t["key"] for t in json.loads(response.content)["tasks"]}


@pytest.mark.parametrize(("fmt", "filename"), EXPORTS)
def test_version_downloads(browser, project, fmt, filename):
    import_demo(project)
    change_the_plan(project)

    response = browser.get(url("version-export", 1, fmt))

    check_download(response, fmt, filename.format(stem="crewboard-v1"))
    if fmt == "json":
        assert json.loads(response.content) == DevPlanVersion.objects.get(number=1).snapshot


def test_unknown_export_format_is_404(browser, project):
    import_demo(project)

    assert browser.get(url("project-export", "docx")).status_code == 404
    assert browser.get(url("version-export", 1, "docx")).status_code == 404


def test_exported_gsd_zip_imports_back_through_the_form(browser, project):
    import_demo(project)
    exported = browser.get(url("version-export", 1, "gsd")).content
    other = ProjectFactory(name="Copy", slug="copy", owner=project.owner)

    browser.post("/projects/copy/import/", upload("copy.zip", exported))

    assert (
        plan_document(project=other).to_snapshot()["tasks"]
        == (plan_document(project=project).to_snapshot()["tasks"])
    )
