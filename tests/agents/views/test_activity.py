"""The activity feed and the usage metrics page with its server-drawn SVG charts."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from agents import selectors
from agents.models import AgentRun, DecisionLog, Metric, PlanningCycle, ToolCall
from planning.models import Project
from tests.agents.views.pages import HTMX, POLLING, url
from tests.agents.views.run_records import build_run, token_use
from tests.factories import AgentFactory, AgentRunFactory

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


# Activity feed ---------------------------------------------------------------------------


def test_activity_feed_merges_everything_newest_first(browser, project, other_project):
    base = timezone.now() - timedelta(hours=2)
    agent = AgentFactory(project=project, name="coder-a")
    run = AgentRunFactory(
        agent=agent,
        status="failed",
        started_at=base,
        finished_at=base + timedelta(minutes=50),
        error="it broke",
    )
    ToolCall.objects.create(
        project=project,
        agent=agent,
        run=run,
        step=1,
        call_id="a",
        tool_name="get_task",
        input={"key": "T9"},
        created_at=base + timedelta(minutes=10),
    )
    started = ToolCall.objects.get(call_id="a")
    ToolCall.objects.create(
        project=project,
        run=run,
        started=started,
        tool_name="get_task",
        status="succeeded",
        output={"found": True},
        duration_ms=7,
        created_at=base + timedelta(minutes=11),
    )
    DecisionLog.objects.create(
        project=project,
        agent=agent,
        run=run,
        decision="pick option B",
        created_at=base + timedelta(minutes=20),
    )
    opened = PlanningCycle.objects.create(
        project=project, agent=agent, goals=["plan v2"], created_at=base + timedelta(minutes=30)
    )
    PlanningCycle.objects.create(
        project=project,
        agent=agent,
        opened=opened,
        status="completed",
        outcomes=["done"],
        created_at=base + timedelta(minutes=40),
    )
    DecisionLog.objects.create(project=other_project, decision="not mine")

    response = browser.get(url("activity", project))

    html = response.content.decode()
    order = [
        "run 1 ended",
        f"closed planning cycle {opened.pk}",
        f"opened planning cycle {opened.pk}",
        "pick option B",
        "called get_task in 7 ms",
        f"started run {run.pk}",
    ]
    order[0] = f"run {run.pk} ended"
    positions = [html.index(text) for text in order]
    assert positions == sorted(positions)
    assert "not mine" not in html
    assert '<span class="badge badge--failed">failed</span>' in html
    assert "it broke" in html and "&quot;found&quot;: true" in html
    assert f'href="{url("run-detail", project, run.pk)}"' in html
    assert POLLING in html  # a planning project: external agents may claim
    Project.objects.filter(pk=project.pk).update(status="completed")
    html = browser.get(url("activity", project)).content.decode()
    assert POLLING not in html  # hands out no work, and no run is active


def test_activity_feed_is_limited_to_the_latest_100(browser, project):
    for i in range(105):
        DecisionLog.objects.create(project=project, decision=f"decision number {i:03d}")

    html = browser.get(url("activity", project)).content.decode()

    assert html.count('class="activity-item ') == 100
    assert "decision number 104" in html and "decision number 005" in html
    assert "decision number 004" not in html


def test_activity_feed_polls_while_a_run_is_active(browser, project):
    project.status = "paused"  # hands out no work: only the run keeps the feed live
    project.save(update_fields=["status"])
    run = build_run(project, steps=1, status="running")
    html = browser.get(url("activity", project)).content.decode()
    feed = re.search(r'<section id="activity-feed"[^>]*>', html, re.S).group(0)
    assert POLLING in feed
    poll_url = re.search(r'hx-get="([^"]+)"', feed).group(1)

    # Nothing new: 204, so htmx keeps the feed (and any opened details) as it is.
    assert browser.get(poll_url, **HTMX).status_code == 204

    DecisionLog.objects.create(project=project, run=run, decision="something new")
    response = browser.get(poll_url, **HTMX)
    fragment = response.content.decode()
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<section id="activity-feed"')
    assert "something new" in fragment and POLLING in fragment
    assert poll_url not in fragment  # it names the new feed

    # The run ends: the answer stops polling.
    AgentRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())
    response = browser.get(poll_url, **HTMX)
    assert response.status_code == 200
    assert "hx-trigger" not in response.content.decode()


@pytest.mark.parametrize("status", ["planning", "active"])
def test_activity_feed_polls_while_the_project_hands_out_work(browser, project, status):
    """An external agent's first claim starts a run later: the feed must be polling."""
    project.status = status
    project.save(update_fields=["status"])
    html = browser.get(url("activity", project)).content.decode()
    feed = re.search(r'<section id="activity-feed"[^>]*>', html, re.S).group(0)
    assert POLLING in feed

    run = build_run(project, steps=1, status="succeeded")
    DecisionLog.objects.create(project=project, run=run, decision="claimed and done")
    poll_url = re.search(r'hx-get="([^"]+)"', feed).group(1)
    fragment = browser.get(poll_url, **HTMX).content.decode()
    assert "claimed and done" in fragment and POLLING in fragment

    project.status = "paused"
    project.save(update_fields=["status"])
    assert "hx-trigger" not in browser.get(poll_url, **HTMX).content.decode()


@pytest.mark.parametrize("runs", [1, 10])
def test_activity_feed_query_count_does_not_grow(browser, project, runs, django_assert_num_queries):
    for _ in range(runs):
        build_run(project, steps=3, status="succeeded")
        PlanningCycle.objects.create(project=project, goals=["g"])

    Project.objects.filter(pk=project.pk).update(status="completed")
    # user, membership, tool calls, decisions, cycles, runs started, runs finished,
    # whether a run is active (the session comes from the cache)
    with django_assert_num_queries(8):
        response = browser.get(url("activity", project))

    assert response.content.decode().count('class="activity-item ') == min(100, runs * 12)


# Metrics ---------------------------------------------------------------------------------


def test_usage_by_day_is_summed_in_sql(project, usage):
    today, yesterday = usage
    since = datetime.combine(yesterday - timedelta(days=5), datetime.min.time(), tzinfo=UTC)

    rows = list(selectors.usage_by_day(project=project, since=since))

    got = [
        (r["day"], r["agent__name"], r["model"], r["tokens"], round(r["cost"], 4), r["calls"])
        for r in rows
    ]
    assert got == [
        (yesterday, "coder-a", "gpt-4o", 150, 0.015, 2),
        (today, "coder-a", "gpt-4o", 300, 0.03, 1),
        (today, "coder-a", "gpt-4o-mini", 1000, 0.002, 1),
        (today, "planner <p>", "gpt-4o", 2000, 0.2, 1),
    ]


def test_metrics_page_shows_a_table_and_svg_charts(browser, project, usage):
    today, yesterday = usage

    response = browser.get(url("metrics", project))

    html = response.content.decode()
    table = re.search(r'<table class="table" id="metrics-table">.*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr>\s*<td[^>]*>(.*?)</td>\s*<td>(.*?)</td>\s*<td[^>]*>(.*?)</td>", table)
    assert rows == [
        (today.isoformat(), "planner &lt;p&gt;", "gpt-4o"),
        (today.isoformat(), "coder-a", "gpt-4o-mini"),
        (today.isoformat(), "coder-a", "gpt-4o"),
        (yesterday.isoformat(), "coder-a", "gpt-4o"),
    ]
    assert '<span class="stat-value" id="metrics-total-tokens">3,450</span>' in html
    assert '<span class="stat-value" id="metrics-total-cost">$0.25</span>' in html

    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 2
    tokens_chart = ET.fromstring(svgs[0])
    assert tokens_chart.find(f"{SVG}title").text == "Tokens per day, by agent and model"
    series = tokens_chart.findall(f".//{SVG}g[@class]")
    bars = {
        g.get("data-series"): [r.find(f"{SVG}title").text for r in g.findall(f"{SVG}rect")]
        for g in series
        if "chart-series " in g.get("class") + " "
    }
    assert bars == {
        "coder-a · gpt-4o": [
            f"{yesterday.isoformat()} · coder-a · gpt-4o: 150 tokens",
            f"{today.isoformat()} · coder-a · gpt-4o: 300 tokens",
        ],
        "coder-a · gpt-4o-mini": [f"{today.isoformat()} · coder-a · gpt-4o-mini: 1,000 tokens"],
        "planner <p> · gpt-4o": [f"{today.isoformat()} · planner <p> · gpt-4o: 2,000 tokens"],
    }
    assert "planner &lt;p&gt; · gpt-4o" in svgs[0]  # escaped in the markup
    cost_chart = ET.fromstring(svgs[1])
    assert any(
        t.text == f"{today.isoformat()} · planner <p> · gpt-4o: $0.2"
        for t in cost_chart.iter(f"{SVG}title")
    )


def test_metrics_period(browser, project, usage):
    Metric.objects.create(
        project=project,
        type="token_usage",
        value=777,
        metadata={"model": "old-model"},
        recorded_at=timezone.now() - timedelta(days=20),
    )

    week = browser.get(url("metrics", project) + "?days=7").content.decode()
    month = browser.get(url("metrics", project) + "?days=30").content.decode()
    bogus = browser.get(url("metrics", project) + "?days=abc")

    assert "old-model" not in week and "old-model" in month
    assert "(no agent)" in month
    assert bogus.status_code == 200 and bogus.context["day_count"] == 30
    assert 'aria-current="page" href="?days=7"' in week


def test_metrics_page_without_usage(browser, project):
    html = browser.get(url("metrics", project)).content.decode()

    assert "<svg" not in html and "No model calls in the last 30 days" in html


@pytest.mark.parametrize("days", [2, 25])
def test_metrics_query_count_does_not_grow(browser, project, days, django_assert_num_queries):
    agent = AgentFactory(project=project)
    run = AgentRunFactory(agent=agent)
    for day in range(days):
        for model in ("a", "b"):
            token_use(
                run,
                input_tokens=10,
                output_tokens=5,
                cost=0.1,
                model=model,
                recorded_at=timezone.now() - timedelta(days=day),
            )

    # user, membership, the aggregate (the session comes from the cache)
    with django_assert_num_queries(3):
        response = browser.get(url("metrics", project))

    assert response.content.decode().count("<svg ") == 2
