"""The plan's versions: saving one, the list and one version, the diff page and restore,
and who may see or do each, imports and exports included."""

import json
import re

import pytest
from django.urls import reverse

from planning.models import DevPlanVersion, Task, TaskDependency
from planning.selectors import plan_document
from planning.services.versions import version_create
from tests.factories import MembershipFactory, UserFactory
from tests.planning.views.pages import HTMX, page_messages, url
from tests.planning.views.plan_files import (
    TASKS_JSON,
    change_the_plan,
    demo_zip,
    import_demo,
    upload,
)

pytestmark = pytest.mark.django_db


# Access ------------------------------------------------------------------------------


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


# Saving versions ---------------------------------------------------------------------


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


# Versions list and detail ------------------------------------------------------------


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


# Diff --------------------------------------------------------------------------------


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


# Restore -----------------------------------------------------------------------------


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


# CSP ---------------------------------------------------------------------------------


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
