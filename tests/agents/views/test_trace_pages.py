"""An ended run's trace a page at a time: the tool calls reported outside a step (an
external agent's thousands of them) are paged too, in the order they happened among the
steps, and a page costs the same queries whichever it is. A live run's calls outside a
step come a page at a time as well, the latest first, and a poll costs the same however
many there are."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import AgentRun, AgentStep
from tests.agents.views.pages import HTMX, POLLING, url
from tests.agents.views.run_records import reply, tool_call
from tests.factories import AgentFactory, AgentRunFactory

pytestmark = pytest.mark.django_db


def _run(project, *, agent_type="coder"):
    start = timezone.now() - timedelta(hours=1)
    run = AgentRunFactory(
        agent=AgentFactory(project=project, type=agent_type),
        status="succeeded",
        started_at=start,
        finished_at=start + timedelta(minutes=30),
    )
    return run, start


def _loose_calls(run, times):
    for i, at in enumerate(times):
        tool_call(run, None, f"x{i}", f"check_{i:03}", {}, at, status="succeeded")


def _step(run, number, at):
    AgentStep.objects.create(
        run=run,
        number=number,
        status="done",
        attempts=1,
        reply=reply(f"step {number}", (f"c{number}", "read_file", "{}")),
        started_at=at,
        finished_at=at + timedelta(seconds=1),
    )
    tool_call(run, number, f"c{number}", "read_file", {"path": f"s{number}.py"}, at)


def _has(html: str, *names: str) -> list[bool]:
    """Whether the page shows each call (by its tool's name) or step (`step N`)."""
    found = []
    for name in names:
        if name.startswith("step "):
            found.append(f'id="run-step-{name.split()[1]}"' in html)
        else:
            found.append(f'<code class="tool-name">{name}</code>' in html)
    return found


def _get(browser, address) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        html = browser.get(address).content.decode()
    return html, len(queries)


def test_an_external_runs_calls_come_a_page_at_a_time_at_the_same_cost(
    browser, project, django_assert_max_num_queries
):
    run, start = _run(project, agent_type="external")
    _loose_calls(run, [start + timedelta(seconds=i) for i in range(250)])
    page = url("run-detail", project, run.pk)

    with django_assert_max_num_queries(20):
        first, first_queries = _get(browser, page)
    assert "Tool calls 1 to 100 of 250." in first
    assert _has(first, "check_000", "check_099", "check_100") == [True, True, False]
    assert 'href="?page=2" rel="next"' in first and "Page 1 of 3" in first

    last, last_queries = _get(browser, page + "?page=3")
    assert "Tool calls 201 to 250 of 250." in last
    assert _has(last, "check_199", "check_200", "check_249") == [False, True, True]
    assert 'rel="next"' not in last
    assert first_queries == last_queries


def test_steps_and_calls_outside_them_share_pages_in_the_order_they_happened(
    browser, project, django_assert_max_num_queries
):
    run, start = _run(project)
    for number in range(1, 13):
        _step(run, number, start + timedelta(seconds=10 * number))
    # A hundred and five checks between step 3 and step 4.
    _loose_calls(run, [start + timedelta(seconds=31, milliseconds=i) for i in range(105)])
    page = url("run-detail", project, run.pk)

    with django_assert_max_num_queries(20):
        first, first_queries = _get(browser, page)
    assert "Steps 1 to 3 of 12. Tool calls outside a step 1 to 100 of 105." in first
    assert _has(first, "step 1", "step 3", "step 4") == [True, True, False]
    assert _has(first, "check_099", "check_100") == [True, False]

    second, second_queries = _get(browser, page + "?page=2")
    assert "Steps 4 to 12 of 12. Tool calls outside a step 101 to 105 of 105." in second
    assert _has(second, "step 3", "step 4", "step 12") == [False, True, True]
    assert _has(second, "check_099", "check_100", "check_104") == [False, True, True]
    # Each step's own call comes with it.
    assert second.count('<code class="tool-name">read_file</code>') == 9
    assert 'start="4"' in second and 'rel="next"' not in second
    assert first_queries == second_queries


def test_a_few_calls_outside_a_step_keep_a_short_trace_on_one_page(browser, project):
    run, start = _run(project)
    for number in range(1, 11):
        _step(run, number, start + timedelta(seconds=number))
    _loose_calls(run, [start + timedelta(seconds=20 + i) for i in range(100)])

    html = browser.get(url("run-detail", project, run.pk)).content.decode()

    assert "Page 1 of" not in html and "Steps 1 to" not in html
    assert _has(html, "step 10", "check_000", "check_099") == [True, True, True]


# A live run's calls outside a step ---------------------------------------------------------


def _live_run(project, calls: int):
    run, start = _run(project, agent_type="external")
    AgentRun.objects.filter(pk=run.pk).update(status="running", finished_at=None)
    _loose_calls(run, [start + timedelta(seconds=i) for i in range(calls)])
    return run, start


def _more_calls(run, start, upto: int):
    """Calls reported since, named on from those already there, up to `upto` in all."""
    there = run.tool_calls.filter(started__isnull=True).count()
    for i in range(there, upto):
        at = start + timedelta(seconds=i)
        tool_call(run, None, f"x{i}", f"check_{i:03}", {}, at, status="succeeded")


def _poll_url(html: str) -> str:
    return re.search(r'<li id="run-live"[^>]*hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")


def _loose_section(html: str) -> str:
    found = re.search(r'<section id="run-loose-calls".*?</section>', html, re.S)
    return found.group(0) if found else ""


def test_a_live_run_shows_its_latest_calls_a_page_at_a_time(browser, project):
    run, start = _live_run(project, 250)
    page = url("run-detail", project, run.pk)

    html = browser.get(page).content.decode()
    assert "Tool calls 201 to 250 of 250." in html and "Page 3 of 3" in html
    assert _has(html, "check_199", "check_200", "check_249") == [False, True, True]
    assert html.count('<code class="tool-name">') == 50
    assert 'href="?page=2" rel="prev"' in html
    poll = _poll_url(html)
    assert "page=" not in poll  # on the latest page: the poll follows new calls

    # A new call arrives on the latest page: the poll redraws that page alone.
    _more_calls(run, start, 251)
    fragment = browser.get(poll, **HTMX).content.decode()
    calls = _loose_section(fragment)
    assert "Tool calls 201 to 251 of 251." in calls
    assert _has(calls, "check_199", "check_200", "check_250") == [False, True, True]
    # and the page's pager leads to the page, not to the poll
    assert 'href="?page=2" rel="prev"' in calls and "after=" not in calls

    # Calls enough to begin a page: the poll moves on to it, where new calls arrive.
    _more_calls(run, start, 301)
    fragment = browser.get(_poll_url(fragment), **HTMX).content.decode()
    calls = _loose_section(fragment)
    assert "Tool calls 301 to 301 of 301." in calls and "Page 4 of 4" in calls
    assert _has(calls, "check_299", "check_300") == [False, True]

    # The run ends: its last poll draws the latest page once more, and no poller.
    AgentRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())
    fragment = browser.get(_poll_url(fragment), **HTMX).content.decode()
    assert POLLING not in fragment
    assert _has(_loose_section(fragment), "check_299", "check_300") == [False, True]


def test_a_live_runs_earlier_calls_are_a_page_away(browser, project):
    run, start = _live_run(project, 250)
    page = url("run-detail", project, run.pk)

    html = browser.get(page + "?page=1").content.decode()
    assert "Tool calls 1 to 100 of 250." in html and "Page 1 of 3" in html
    assert _has(html, "check_000", "check_099", "check_100") == [True, True, False]
    assert 'href="?page=2" rel="next"' in html
    second = browser.get(page + "?page=2").content.decode()
    assert _has(second, "check_099", "check_100", "check_199") == [False, True, True]

    # The poll keeps the reader's page: new calls elsewhere leave it as it is, opened
    # calls and all,
    poll = _poll_url(html)
    assert "&page=1" in poll
    _more_calls(run, start, 260)
    assert 'id="run-loose-calls"' not in browser.get(poll, **HTMX).content.decode()
    # and when it is redrawn (calls begin a new page), it is that page still.
    _more_calls(run, start, 301)
    calls = _loose_section(browser.get(poll, **HTMX).content.decode())
    assert "Tool calls 1 to 100 of 301." in calls and "Page 1 of 4" in calls
    assert _has(calls, "check_000", "check_099", "check_100") == [True, True, False]


def test_a_live_runs_poll_costs_the_same_however_many_calls_it_has(
    browser, project, django_assert_max_num_queries
):
    run, start = _live_run(project, 10)
    poll = _poll_url(browser.get(url("run-detail", project, run.pk)).content.decode())
    # A marker the page never showed, so that each poll draws the calls.
    poll = re.sub(r"calls=[^&]*", "calls=none", poll)

    with django_assert_max_num_queries(8):
        few, few_queries = _get_fragment(browser, poll)
    _more_calls(run, start, 200)
    with django_assert_max_num_queries(8):
        many, many_queries = _get_fragment(browser, poll)

    assert few.count('<code class="tool-name">') == 10
    assert many.count('<code class="tool-name">') == 100
    assert _has(many, "check_099", "check_100", "check_199") == [False, True, True]
    assert few_queries == many_queries


def _get_fragment(browser, address) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        html = browser.get(address, **HTMX).content.decode()
    return html, len(queries)
