"""Searching a project's tool calls by tool, status and text, a page at a time."""

import re

import pytest

from tests.agents.views.pages import HTMX, url
from tests.agents.views.run_records import tool_call
from tests.factories import AgentFactory, AgentRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(project):
    run = AgentRunFactory(agent=AgentFactory(project=project, name="coder"), status="running")
    tool_call(run, 1, "a", "read_file", {"path": "login.py"}, status="succeeded", output="ok")
    tool_call(run, 1, "b", "run_command", {"cmd": "pytest"}, status="failed", error="3 failed")
    tool_call(run, 2, "c", "run_command", {"cmd": "make lint"})  # still running
    tool_call(run, 2, "d", "read_file", {"path": "README"}, status="succeeded", output="Login here")
    return run


def shown(html: str) -> list[str]:
    return re.findall(r'<code class="tool-name">(\w+)</code>', html)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["read_file", "run_command", "run_command", "read_file"]),
        ("tool_name=run_command", ["run_command", "run_command"]),
        ("status=failed", ["run_command"]),
        ("status=running", ["run_command"]),
        ("status=succeeded&tool_name=read_file", ["read_file", "read_file"]),
        ("q=login", ["read_file", "read_file"]),  # input of one, output of the other
        ("q=3+FAILED", ["run_command"]),  # the error, case-insensitively
        ("q=make+lint", ["run_command"]),
        ("q=nothing-like-this", []),
    ],
)
def test_filters(browser, project, calls, query, expected):
    response = browser.get(f"{url('tool-calls', project)}?{query}")
    assert response.status_code == 200
    assert shown(response.content.decode()) == list(reversed(expected))  # newest first


def test_a_row_links_to_its_step_and_marks_a_failure(browser, project, calls):
    html = browser.get(url("tool-calls", project) + "?status=failed").content.decode()
    assert f'href="{url("run-detail", project, calls.pk)}#run-step-1"' in html
    assert 'class="row--failed"' in html and "3 failed" in html


def test_htmx_gets_the_results_only(browser, project, calls):
    html = browser.get(url("tool-calls", project) + "?q=login", **HTMX).content.decode()
    assert html.lstrip().startswith('<section id="tool-call-results"')


def test_a_bad_status_says_so(browser, project, calls):
    html = browser.get(url("tool-calls", project) + "?status=exploded").content.decode()
    assert "Select a valid choice" in html
    assert shown(html) == []


@pytest.mark.parametrize("n", [3, 60])
def test_pages_with_a_constant_number_of_queries(
    browser, project, n, django_assert_max_num_queries
):
    run = AgentRunFactory(agent=AgentFactory(project=project), status="running")
    for i in range(n):
        tool_call(run, 1, f"c{i}", "read_file", {"i": i}, status="succeeded")
    # session, user, membership with its project, the count and the page
    with django_assert_max_num_queries(5):
        html = browser.get(url("tool-calls", project) + "?q=read").content.decode()
    assert len(shown(html)) == min(n, 50)
    if n > 50:
        assert "Page 1 of 2" in html
        second = browser.get(url("tool-calls", project) + "?q=read&page=2").content.decode()
        assert len(shown(second)) == n - 50


def test_another_projects_calls_never_show(browser, project, other_project):
    run = AgentRunFactory(agent=AgentFactory(project=other_project), status="running")
    tool_call(run, 1, "x", "secret_tool", {}, status="succeeded")
    assert "secret_tool" not in browser.get(url("tool-calls", project)).content.decode()
