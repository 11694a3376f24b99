"""The import form's preview of a file from another source, and its two buttons."""

import json

import pytest

from planning.models import DevPlanVersion, Task
from tests.planning.views.pages import HTMX, url
from tests.planning.views.plan_files import upload

pytestmark = pytest.mark.django_db

PRD = "# Shop\n\n## Accounts\n\n" + "".join(f"- Item {n}\n" for n in range(1, 56))


def _tasks_json():
    return json.dumps({"tasks": [{"id": 1, "title": "Schema", "status": "done"}]}).encode()


def _stash(html):
    return html.split('name="stash" value="', 1)[1].split('"', 1)[0]


def test_a_file_from_another_source_shows_a_preview_and_waits(browser, project, settings):
    browser.post(url("project-import"), upload("tasks.json", _tasks_json()))
    response = browser.post(url("project-import"), upload("PRD.md", PRD.encode()), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>55</strong> tasks added" in html
    assert "<strong>1</strong> in the plan but not in the file" in html
    assert 'name="mode" value="replace"' in html and 'name="mode" value="merge"' in html
    assert "Item 50" in html and "Item 51" not in html  # 50 a page
    assert "Page 1 of 2" in html
    assert Task.objects.count() == 1 and DevPlanVersion.objects.count() == 1

    stash = _stash(html)
    second = browser.post(
        url("project-import"), {"stash": stash, "format": "auto", "page": 2}, **HTMX
    )
    assert "Item 51" in second.content.decode() and "Page 2 of 2" in second.content.decode()
    assert Task.objects.count() == 1

    merged = browser.post(
        url("project-import"), {"stash": stash, "format": "auto", "mode": "merge"}, **HTMX
    )
    assert merged.status_code == 200 and "HX-Redirect" in merged.headers
    assert Task.objects.count() == 56 and Task.objects.get(key="1").status == "done"
    assert not list(settings.IMPORT_STASH_DIR.iterdir())  # the kept file is gone


def test_replace_from_the_preview_makes_the_plan_the_file(browser, project):
    browser.post(url("project-import"), upload("tasks.json", _tasks_json()))
    html = browser.post(url("project-import"), upload("PRD.md", PRD.encode())).content.decode()
    response = browser.post(
        url("project-import"), {"stash": _stash(html), "format": "auto", "mode": "replace"}
    )
    assert response.status_code == 302
    assert Task.objects.count() == 55 and not Task.objects.filter(key="1").exists()


def test_a_stash_that_is_gone_asks_for_the_file_again(browser, project):
    response = browser.post(
        url("project-import"),
        {"stash": "x" * 24, "format": "auto", "mode": "merge"},
        **HTMX,
    )
    assert response.status_code == 400
    assert "no longer kept: choose it again" in response.content.decode()
