"""The plan import form, versions, the diff page, restore and export downloads."""

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from planning.importers import ImportSource
from planning.models import DevPlanVersion, Project, Task, TaskDependency
from planning.selectors import plan_document
from planning.services.imports import plan_import
from planning.services.versions import version_create
from tests.factories import MembershipFactory, ProjectFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
DEMO = Path(settings.BASE_DIR) / "planning" / "demo" / ".planning"
DEMO_TASKS = 10

TASKS_JSON = {
    "master": {
        "tasks": [
            {"id": 1, "title": "Set up repo", "status": "done", "dependencies": []},
            {
                "id": 2,
                "title": "Build API",
                "dependencies": [1],
                "subtasks": [{"id": 1, "title": "Models", "dependencies": []}],
            },
        ],
        "metadata": {"name": "Main"},
    }
}
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


def demo_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(DEMO.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(DEMO.parent).as_posix())
    return buffer.getvalue()


def corrupt_zip() -> bytes:
    """A real zip whose first member (.planning/PROJECT.md) fails its CRC check."""
    data = bytearray(demo_zip())
    data[60] ^= 0xFF  # 30-byte header + 20-byte name, then the stored file's bytes
    return bytes(data)


def import_demo(project: Project) -> DevPlanVersion:
    outcome = plan_import(project=project, source=ImportSource.from_path(DEMO), actor=project.owner)
    assert outcome.version is not None
    return outcome.version


def upload(name: str, data: bytes, fmt: str = "auto") -> dict[str, object]:
    return {"file": SimpleUploadedFile(name, data), "format": fmt}


def url(name: str, *args: object) -> str:
    return reverse(f"planning:{name}", args=["crewboard", *args])


def page_messages(html: str) -> list[str]:
    return re.findall(r'<li class="message[^"]*">(.*?)</li>', html, re.S)


def change_the_plan(project: Project) -> None:
    """Rename one task, drop one, add one with a new dependency."""
    Task.objects.filter(project=project, key="01-02-T1").update(
        name="Project-scoped viewsets, renamed", verify="first line\nsecond line"
    )
    Task.objects.filter(project=project, key="03-01-T1").delete()
    added = TaskFactory(project=project, key="04-01-T1", name="Brand new task")
    TaskDependency.objects.create(
        task=added, depends_on=Task.objects.get(project=project, key="01-01-T1")
    )


# Access --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/projects/crewboard/import/"),
        ("get", "/projects/crewboard/export/json/"),
        ("get", "/projects/crewboard/versions/"),
        ("post", "/projects/crewboard/versions/"),
        ("get", "/projects/crewboard/versions/1/"),
        ("get", "/projects/crewboard/versions/diff/?from=1&to=working"),
        ("get", "/projects/crewboard/versions/1/restore/"),
        ("post", "/projects/crewboard/versions/1/restore/"),
        ("get", "/projects/crewboard/versions/1/export/json/"),
    ],
)
def test_anonymous_users_are_sent_to_login(client, project, method, path):
    import_demo(project)

    response = getattr(client, method)(path)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login") + "?next=")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/projects/elsewhere/versions/"),
        ("get", "/projects/elsewhere/versions/1/"),
        ("get", "/projects/elsewhere/versions/diff/?from=1&to=working"),
        ("get", "/projects/elsewhere/export/json/"),
        ("get", "/projects/elsewhere/versions/1/export/json/"),
        ("post", "/projects/elsewhere/versions/"),
        ("post", "/projects/elsewhere/versions/1/restore/"),
    ],
)
def test_someone_elses_versions_are_404(browser, other_project, method, path):
    import_demo(other_project)

    assert getattr(browser, method)(path).status_code == 404
    assert DevPlanVersion.objects.count() == 1


def test_non_member_upload_is_404_and_writes_nothing(browser, other_project):
    response = browser.post("/projects/elsewhere/import/", upload("planning.zip", demo_zip()))

    assert response.status_code == 404
    assert not Task.objects.exists()


def test_viewer_cannot_import_save_or_restore(client, project, viewer):
    v1 = import_demo(project)
    change_the_plan(project)
    before = plan_document(project=project).to_snapshot()
    client.force_login(viewer)

    responses = [
        client.post(url("project-import"), upload("tasks.json", json.dumps(TASKS_JSON).encode())),
        client.post(url("version-list"), {"summary": "mine"}, **HTMX),
        client.get(url("version-restore", v1.number)),
        client.post(url("version-restore", v1.number)),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert DevPlanVersion.objects.count() == 1
    assert plan_document(project=project).to_snapshot() == before


def test_viewers_see_exports_but_no_import_save_or_restore(client, project, viewer):
    v1 = import_demo(project)
    client.force_login(viewer)

    detail = client.get(reverse("planning:project-detail", args=["crewboard"])).content.decode()
    versions = client.get(url("version-list")).content.decode()
    version = client.get(url("version-detail", v1.number)).content.decode()

    assert 'id="plan-import-form"' not in detail
    assert 'id="version-form"' not in detail + versions
    assert url("version-restore", 1) not in versions + version
    assert f'href="{url("project-export", "gsd")}"' in detail
    assert f'href="{url("version-export", 1, "gsd")}"' in versions
    assert client.get(url("version-export", 1, "json")).status_code == 200


# Import form ---------------------------------------------------------------------------


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
    assert "Repair mojibake" in html  # the plan tree shows the imported tasks


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
    assert '<details class="panel plan-tool" id="plan-import" open>' in html
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


# Saving versions -----------------------------------------------------------------------


def test_save_version_records_a_change_and_skips_an_unchanged_plan(browser, project, user):
    import_demo(project)
    change_the_plan(project)

    saved = browser.post(url("version-list"), {"summary": "After review"}, follow=True)
    again = browser.post(url("version-list"), {"summary": "Nothing new"}, follow=True)

    latest = DevPlanVersion.objects.order_by("-number").first()
    assert (latest.number, latest.change_summary, latest.created_by) == (2, "After review", user)
    assert DevPlanVersion.objects.count() == 2
    assert "Saved version 2." in page_messages(saved.content.decode())
    assert page_messages(again.content.decode()) == [
        "Nothing changed since the last version; nothing saved."
    ]


def test_save_version_from_htmx_redirects_to_the_versions_page(browser, project):
    response = browser.post(url("version-list"), {"summary": ""}, **HTMX)

    assert response.headers["HX-Redirect"] == url("version-list")
    assert DevPlanVersion.objects.get().change_summary == "Saved by hand"


def test_too_long_a_summary_rerenders_the_form(browser, project):
    response = browser.post(url("version-list"), {"summary": "x" * 2001}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith('<form id="version-form"')
    assert "at most 2000 characters" in html
    assert not DevPlanVersion.objects.exists()


# Versions list and detail ---------------------------------------------------------------


def test_versions_list_shows_each_version_with_its_links(browser, project, user):
    import_demo(project)
    change_the_plan(project)
    version_create(project=project, summary="Reworked phase 3", actor=user)

    html = browser.get(url("version-list")).content.decode()

    rows = re.findall(r'<tr id="version-(\d+)">(.*?)</tr>', html, re.S)
    assert [n for n, _ in rows] == ["2", "1"]
    latest = rows[0][1]
    assert "Reworked phase 3" in latest
    assert "alice" in latest
    assert f'href="{url("version-detail", 2)}"' in latest
    assert f'href="{url("version-diff")}?from=1&amp;to=2"' in latest
    assert f'href="{url("version-diff")}?from=2&amp;to=working"' in latest
    assert f'href="{url("version-restore", 2)}"' in latest
    for fmt in ("markdown", "json", "gsd", "taskmaster"):
        assert f'href="{url("version-export", 2, fmt)}" download' in latest
    assert "from=0" not in rows[1][1]  # the first version has no previous one
    assert 'aria-current="page">Versions</a>' in html


def test_versions_list_is_paginated(browser, project, user):
    import_demo(project)
    for i in range(29):
        version_create(project=project, summary=f"Save {i}", actor=user, only_if_changed=False)

    first = browser.get(url("version-list")).content.decode()
    second = browser.get(url("version-list") + "?page=2").content.decode()

    assert re.findall(r'<tr id="version-(\d+)">', first) == [str(n) for n in range(30, 5, -1)]
    assert re.findall(r'<tr id="version-(\d+)">', second) == ["5", "4", "3", "2", "1"]
    assert "Page 2 of 2" in second


@pytest.mark.parametrize("n_versions", [3, 30])
def test_versions_list_query_count_does_not_grow(
    browser, project, n_versions, django_assert_max_num_queries
):
    import_demo(project)
    for i in range(n_versions - 1):
        author = UserFactory(username=f"author{i}")
        MembershipFactory(project=project, user=author)
        version_create(project=project, summary=f"Save {i}", actor=author, only_if_changed=False)

    # session, user, membership, page count, page rows
    with django_assert_max_num_queries(5):
        response = browser.get(url("version-list"))

    html = response.content.decode()
    assert html.count('<tr id="version-') == min(n_versions, 25)
    assert f"author{n_versions - 2}" in html


def test_version_page_shows_its_markdown_and_summary(browser, project):
    version = import_demo(project)
    change_the_plan(project)

    html = browser.get(url("version-detail", 1)).content.decode()

    pre = re.search(r'<pre class="plan-markdown" id="version-markdown">(.*?)</pre>', html, re.S)[1]
    assert "# Crewboard — v1" in pre
    assert "**01-01-T1** Write the planning models" in pre
    assert "Brand new task" not in pre  # the working plan, not this version
    assert version.change_summary in html
    assert f'href="{url("version-diff")}?from=1&amp;to=working"' in html
    for fmt in ("markdown", "json", "gsd", "taskmaster"):
        assert f'href="{url("version-export", 1, fmt)}"' in html


def test_version_markdown_is_shown_as_text_not_html(browser, project, user):
    import_demo(project)
    Task.objects.filter(key="01-01-T1").update(name="Guard <script>alert(1)</script> & <b>co</b>")
    version_create(project=project, summary="<i>risky</i>", actor=user)

    html = browser.get(url("version-detail", 2)).content.decode()

    pre = re.search(r'<pre class="plan-markdown" id="version-markdown">(.*?)</pre>', html, re.S)[1]
    assert "Guard &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;co&lt;/b&gt;" in pre
    assert "<script>alert" not in html
    assert "<i>risky</i>" not in html and "&lt;i&gt;risky&lt;/i&gt;" in html
    assert f'href="{url("version-diff")}?from=1&amp;to=2"' in html


def test_unknown_version_is_404(browser, project):
    import_demo(project)

    assert browser.get(url("version-detail", 2)).status_code == 404
    assert browser.get(url("version-restore", 2)).status_code == 404
    assert browser.get(url("version-export", 2, "json")).status_code == 404


# Diff ----------------------------------------------------------------------------------


def diff(browser: object, query: str) -> str:
    response = browser.get(url("version-diff") + query)
    assert response.status_code == 200
    return response.content.decode()


def diff_section(html: str, kind: str) -> str:
    return re.search(
        rf'<section class="diff-section" id="diff-{kind}">(.*?)</section>', html, re.S
    )[1]


def test_diff_page_shows_added_removed_and_changed_side_by_side(browser, project, user):
    import_demo(project)
    change_the_plan(project)
    version_create(project=project, summary="Second", actor=user)

    html = diff(browser, "?from=1&to=2")

    tasks = diff_section(html, "tasks")
    removed = re.search(r'<ul class="diff-rows diff-rows--removed".*?</ul>', tasks, re.S)[0]
    added = re.search(r'<ul class="diff-rows diff-rows--added".*?</ul>', tasks, re.S)[0]
    assert "03-01-T1" in removed and "Step loop" in removed
    assert "04-01-T1" in added and "Brand new task" in added
    assert "04-01-T1" not in removed and "03-01-T1" not in added
    changed = re.search(
        r'<table class="table diff-table" id="diff-tasks-01-02-t1">.*?</table>', tasks, re.S
    )[0]
    assert '<th scope="col">Version 1</th>' in changed
    assert '<th scope="col">Version 2</th>' in changed
    name_row = re.search(r'<tr class="diff-change">\s*<th[^>]*>name</th>(.*?)</tr>', changed, re.S)[
        1
    ]
    before, after = re.findall(
        r'<td class="diff-cell diff-cell--(?:before|after)">(.*?)</td>', name_row, re.S
    )
    assert '<div class="diff-line diff-line--removed">Project-scoped viewsets</div>' in before
    assert '<div class="diff-line diff-line--added">Project-scoped viewsets, renamed</div>' in after
    verify_row = re.search(r"<th[^>]*>verify</th>(.*?)</tr>", changed, re.S)[1]
    assert '<div class="diff-line diff-line--added">second line</div>' in verify_row
    dependencies = diff_section(html, "dependencies")
    assert re.search(r"04-01-T1</span> depends on <span class=\"key\">01-01-T1", dependencies)
    assert "diff-row--added" in dependencies
    assert "no changes" in diff_section(html, "features")
    assert "1 task added, 1 task removed, 1 task changed" in html


def test_unchanged_lines_of_a_changed_field_are_not_highlighted(browser, project, user):
    import_demo(project)
    Task.objects.filter(key="01-02-T1").update(verify="same start\nold end")
    version_create(project=project, summary="a", actor=user)
    Task.objects.filter(key="01-02-T1").update(verify="same start\nnew end")
    version_create(project=project, summary="b", actor=user)

    html = diff(browser, "?from=2&to=3")

    assert '<div class="diff-line">same start</div>' in html
    assert '<div class="diff-line diff-line--removed">old end</div>' in html
    assert '<div class="diff-line diff-line--added">new end</div>' in html


def test_diff_against_the_working_plan_is_the_default(browser, project):
    import_demo(project)
    change_the_plan(project)

    html = diff(browser, "")

    assert '<option value="1" selected>' in html
    assert '<option value="working" selected>' in html
    assert "Brand new task" in diff_section(html, "tasks")
    after = re.search(r'<div class="diff-side diff-side--after">(.*?)</div>', html, re.S)[1]
    assert "Working plan" in after
    assert "The plan as it is now." in after


def test_diff_removed_edges_appear_on_the_before_side(browser, project, user):
    import_demo(project)
    TaskDependency.objects.filter(task__key="01-01-T2").delete()

    html = diff(browser, "?from=1&to=working")

    removed = re.search(
        r'<ul class="diff-rows diff-rows--removed" aria-label="Dependencies.*?</ul>', html, re.S
    )[0]
    assert '01-01-T2</span> depends on <span class="key">01-01-T1' in removed


def test_diff_of_a_version_with_itself_says_identical(browser, project):
    import_demo(project)

    html = diff(browser, "?from=1&to=1")

    assert 'id="diff-identical"' in html
    assert "identical" in html
    assert 'class="diff-section"' not in html


def test_diff_of_equal_plans_says_there_are_no_differences(browser, project):
    import_demo(project)

    html = diff(browser, "?from=1&to=working")

    assert 'id="diff-empty"' in html
    assert 'class="diff-section"' not in html


@pytest.mark.parametrize("query", ["?from=7&to=working", "?from=1&to=9", "?from=abc", "?from=-1"])
def test_diff_of_unknown_versions_is_404(browser, project, query):
    import_demo(project)

    assert browser.get(url("version-diff") + query).status_code == 404


def test_diff_page_without_versions_says_so(browser, project):
    html = diff(browser, "")

    assert "No versions yet" in html


# Restore --------------------------------------------------------------------------------


def test_restore_asks_for_confirmation_showing_what_changes(browser, project):
    import_demo(project)
    change_the_plan(project)

    response = browser.get(url("version-restore", 1))

    html = response.content.decode()
    assert response.status_code == 200
    assert "1 task added, 1 task removed, 1 task changed" in html
    assert f'action="{url("version-restore", 1)}"' in html
    assert DevPlanVersion.objects.count() == 1
    assert Task.objects.filter(key="04-01-T1").exists()  # the GET changed nothing


def test_restore_makes_the_plan_match_and_records_a_new_version(browser, project, user):
    v1 = import_demo(project)
    change_the_plan(project)
    version_create(project=project, summary="Second", actor=user)

    response = browser.post(url("version-restore", 1), follow=True)

    assert response.redirect_chain == [(url("version-list"), 302)]
    assert "Restored version 1 as version 3." in page_messages(response.content.decode())
    v3 = DevPlanVersion.objects.get(number=3)
    assert v3.change_summary == "Restored version 1"
    assert v3.created_by == user
    assert plan_document(project=project).to_snapshot() == v1.snapshot
    assert Task.objects.get(key="01-02-T1").name == "Project-scoped viewsets"
    assert not Task.objects.filter(key="04-01-T1").exists()
    assert Task.objects.get(key="01-01-T1").status == "done"  # execution state survives


def test_restore_from_htmx_redirects_the_client(browser, project):
    import_demo(project)

    response = browser.post(url("version-restore", 1), **HTMX)

    assert response.headers["HX-Redirect"] == url("version-list")
    assert DevPlanVersion.objects.count() == 2


# Export downloads -----------------------------------------------------------------------


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


# CSP -----------------------------------------------------------------------------------


def test_new_pages_need_no_inline_script_or_style(browser, project):
    import_demo(project)
    change_the_plan(project)
    pages = [
        reverse("planning:project-detail", args=["crewboard"]),
        url("version-list"),
        url("version-detail", 1),
        url("version-diff") + "?from=1&to=working",
        url("version-restore", 1),
    ]
    for path in pages:
        response = browser.get(path)
        html = response.content.decode()
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, path
        assert "style=" not in html, path
        assert "<style" not in html, path
        assert "hx-on" not in html, path
        assert "javascript:" not in html, path
