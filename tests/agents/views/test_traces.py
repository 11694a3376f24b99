"""A run as a trace: a waterfall of its steps and tool calls on one scale, the tokens and
cost of each step, failures marked, decisions' reasoning as prose, and external runs
told in their own words."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import AgentStep, DecisionLog
from tests.agents.views.pages import url
from tests.agents.views.run_records import reply, token_use, tool_call
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory

pytestmark = pytest.mark.django_db

BAR = re.compile(
    r'<rect class="waterfall-bar waterfall-bar--([\w-]+)" x="(\d+)" y="0" width="(\d+)"'
)


def ended_run(project, *, status="failed"):
    """A 10 s run: step 1 from 0 s to 4 s (a 1 s call at 1 s), step 2 from 5 s to 10 s
    (a failed 2 s call at 6 s)."""
    start = timezone.now() - timedelta(minutes=1)
    at = lambda seconds: start + timedelta(seconds=seconds)  # noqa: E731
    run = AgentRunFactory(
        agent=AgentFactory(project=project),
        task=TaskFactory(project=project),
        status=status,
        started_at=start,
        finished_at=at(10),
    )
    for number, began, ended, call in ((1, 0, 4, "read_file"), (2, 5, 10, "run_command")):
        AgentStep.objects.create(
            run=run,
            number=number,
            status="done" if number == 1 else "failed",
            attempts=1,
            reply=reply(f"step {number}", (f"c{number}", call, "{}")),
            error="" if number == 1 else "the command failed",
            started_at=at(began),
            finished_at=at(ended),
        )
    tool_call(run, 1, "c1", "read_file", {}, at(1), status="succeeded", duration_ms=1000)
    tool_call(
        run, 2, "c2", "run_command", {}, at(6), status="failed", error="exit 2", duration_ms=2000
    )
    token_use(run, input_tokens=900, output_tokens=100, cost=0.25, step=1)
    token_use(run, input_tokens=1500, output_tokens=500, cost=0.5, step=2)
    token_use(run, input_tokens=10, output_tokens=0, cost=0.0)  # outside any step
    return run


def test_an_ended_run_is_a_waterfall_on_one_scale(browser, project):
    run = ended_run(project)
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    bars = BAR.findall(html)
    # In page order: step 1, its call, step 2, its call; x and width in thousandths.
    assert bars == [
        ("done", "0", "400"),
        ("succeeded", "100", "100"),
        ("failed", "500", "500"),
        ("failed", "600", "200"),
    ]
    assert '<span class="step-duration">4000 ms</span>' in html
    assert '<span class="step-duration">5000 ms</span>' in html


def test_each_step_shows_its_tokens_and_cost(browser, project):
    run = ended_run(project)
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    step_one = html.split('id="run-step-1"')[1].split('id="run-step-2"')[0]
    step_two = html.split('id="run-step-2"')[1]
    assert '<span class="step-tokens">1,000 tokens</span>' in step_one
    assert '<span class="step-cost">$0.2500</span>' in step_one
    assert '<span class="step-tokens">2,000 tokens</span>' in step_two
    assert '<span class="step-cost">$0.5000</span>' in step_two
    # The run's total still counts the call made outside a step.
    assert '<span class="run-token-total">3,010</span>' in html


def test_failures_are_marked(browser, project):
    html = browser.get(url("run-detail", project, ended_run(project).pk)).content.decode()
    assert '<article class="step step--failed" id="run-step-2">' in html
    assert '<li class="tool-call tool-call--failed">' in html
    assert '<span class="tool-call-error">exit 2</span>' in html


def test_a_live_run_draws_no_bars_on_a_scale_that_still_grows(browser, project):
    run = ended_run(project, status="running")
    run.__class__.objects.filter(pk=run.pk).update(finished_at=None)
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert "waterfall-bar" not in html
    assert '<span class="step-tokens">1,000 tokens</span>' in html


def test_reasoning_reads_as_prose(browser, project):
    run = ended_run(project)
    DecisionLog.objects.create(
        project=project,
        run=run,
        decision="Use sessions",
        reasoning={
            "why": "Simpler than **JWT**.",
            "risks": ["cookie `theft`", "<script>alert(1)</script>"],
            "scores": {"sessions": 3, "jwt": 1},
        },
    )
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    reasoning = html.split('<dl class="reasoning">')[1].split("</dl>")[0]
    assert "<dt>Why</dt>" in reasoning
    assert "<p>Simpler than <strong>JWT</strong>.</p>" in reasoning
    assert "<li>cookie <code>theft</code></li>" in reasoning
    assert "<script>" not in reasoning and "&lt;script&gt;" in reasoning
    assert "<dt>Scores</dt>" in reasoning
    assert "&quot;sessions&quot;: 3" in reasoning


def test_an_external_run_uses_no_step_wording(browser, project):
    agent = AgentFactory(project=project, type="external", name="claude-laptop")
    run = AgentRunFactory(agent=agent, task=TaskFactory(project=project), status="running")
    tool_call(run, None, "", "edit_file", {"path": "app.py"}, status="succeeded", duration_ms=5)
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert "step" not in re.sub(r"<[^>]+>", "", html.split('id="run-steps-title"')[1]).lower()
    assert "claude-laptop works outside Crewboard" in html
    assert "<h2>Tool calls</h2>" in html
    assert "Waiting for the next step" not in html


def long_run(project, calls: int):
    run = AgentRunFactory(
        agent=AgentFactory(project=project), status="succeeded", finished_at=timezone.now()
    )
    for i in range(calls):
        tool_call(run, None, f"c{i}", "read_file", {"path": f"f{i}.py"}, status="succeeded")
    return run


def test_a_long_trace_sends_each_calls_body_when_it_is_opened(browser, project):
    run = long_run(project, 51)
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert html.count('<code class="tool-name">read_file</code>') == 51
    assert "f7.py" not in html  # not in the page: loaded when opened
    first = run.tool_calls.filter(started__isnull=True).order_by("id").first()
    body_url = f"{url('run-detail', project, run.pk)}calls/{first.pk}/"
    assert f'hx-get="{body_url}" hx-trigger="toggle once"' in html
    body = browser.get(body_url).content.decode()
    assert "&quot;path&quot;: &quot;f0.py&quot;" in body
    assert "<html" not in body


def test_a_short_trace_carries_its_bodies(browser, project):
    run = long_run(project, 50)
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert "&quot;path&quot;: &quot;f7.py&quot;" in html
    assert "toggle once" not in html


def test_a_calls_body_is_only_found_under_its_own_run(browser, project, other_project):
    run, other_run = long_run(project, 1), long_run(project, 1)
    call = run.tool_calls.filter(started__isnull=True).get()
    assert browser.get(url("run-tool-call", project, other_run.pk, call.pk)).status_code == 404
    stranger = long_run(other_project, 1)
    stranger_call = stranger.tool_calls.filter(started__isnull=True).get()
    answer = browser.get(url("run-tool-call", project, stranger.pk, stranger_call.pk))
    assert answer.status_code == 404
    assert browser.get(url("run-tool-call", project, run.pk, call.pk)).status_code == 200


def stepped_run(project, steps: int):
    """An ended run of `steps` steps, each with one call named after it, and one call
    reported outside any step."""
    start = timezone.now() - timedelta(hours=1)
    run = AgentRunFactory(
        agent=AgentFactory(project=project),
        status="succeeded",
        started_at=start,
        finished_at=start + timedelta(seconds=steps + 1),
    )
    for number in range(1, steps + 1):
        at = start + timedelta(seconds=number)
        AgentStep.objects.create(
            run=run,
            number=number,
            status="done",
            attempts=1,
            reply=reply(f"step {number}", (f"c{number}", "read_file", "{}")),
            started_at=at,
            finished_at=at + timedelta(milliseconds=500),
        )
        tool_call(
            run,
            number,
            f"c{number}",
            "read_file",
            {"path": f"s{number}.py"},
            at,
            status="succeeded",
        )
    tool_call(run, None, "loose", "run_command", {"cmd": "outside"}, status="succeeded")
    return run


def test_a_long_ended_trace_shows_a_page_of_steps_at_a_time(
    browser, project, django_assert_max_num_queries
):
    run = stepped_run(project, 25)
    page = url("run-detail", project, run.pk)
    with django_assert_max_num_queries(20):
        first = browser.get(page).content.decode()
    assert "Steps 1 to 10 of 25." in first and "s1.py" in first and "s10.py" in first
    assert "s11.py" not in first and "outside" not in first
    assert '<ol id="run-steps" class="timeline" start="1">' in first
    assert 'href="?page=2" rel="next"' in first

    last = browser.get(page + "?page=3").content.decode()
    assert "Steps 21 to 25 of 25." in last and "s21.py" in last and "s25.py" in last
    assert "s20.py" not in last and "outside" in last  # calls outside a step come last
    assert 'start="21"' in last and 'rel="next"' not in last


def test_a_short_or_live_trace_is_one_page(browser, project):
    short = stepped_run(project, 10)
    html = browser.get(url("run-detail", project, short.pk)).content.decode()
    assert "Steps 1 to" not in html and "s10.py" in html and "outside" in html
    live = stepped_run(project, 25)
    live.status, live.finished_at = "running", None
    live.save(update_fields=["status", "finished_at"])
    html = browser.get(url("run-detail", project, live.pk)).content.decode()
    assert "Steps 1 to" not in html and "s1.py" in html and "s25.py" in html
