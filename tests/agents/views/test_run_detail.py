"""A run's page: its live timeline, its usage and tool calls, and what it says once it
has ended."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent, AgentRun, AgentStep, DecisionLog, Metric
from planning.models import Project, Task
from tests.agents.views.pages import HTMX, POLLING, url
from tests.agents.views.run_records import build_run, reply, tool_call
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_run_detail_shows_the_timeline(browser, project):
    task = TaskFactory(project=project, key="01-T3", name="Add the login form")
    agent = AgentFactory(project=project, name="coder-a")
    run = build_run(
        project, steps=2, status="failed", agent=agent, task=task, error="turn limit reached"
    )
    DecisionLog.objects.create(
        project=project, run=run, decision="use <b>sessions</b>", reasoning={"why": "simpler"}
    )

    response = browser.get(url("run-detail", project, run.pk))

    html = response.content.decode()
    assert response.status_code == 200
    assert "coder-a" in html and "01-T3" in html and "Add the login form" in html
    assert '<span class="badge badge--failed">Failed</span>' in html
    assert 'role="alert">turn limit reached</p>' in html
    steps = re.findall(r'<article class="step step--(\w+)" id="run-step-(\d+)">', html)
    assert steps == [("done", "1"), ("done", "2")]
    assert "Thinking about step 1" in html and "Thinking about step 2" in html
    assert "1 attempt" in html
    # Tool calls, collapsible, with input, output or error, and duration.
    assert html.count('<li class="tool-call tool-call--succeeded">\n  <details>') == 2
    assert html.count('<li class="tool-call tool-call--failed">\n  <details>') == 2
    assert '<code class="tool-name">get_task</code>' in html
    assert "&quot;key&quot;: &quot;T1&quot;" in html
    assert "&quot;name&quot;: &quot;output of step 2&quot;" in html
    assert "state is read-only in step 1" in html
    assert "12 ms" in html and "3 ms" in html
    # Decisions of the run, escaped.
    assert "decided in step 1" in html and "decided in step 2" in html
    assert "use &lt;b&gt;sessions&lt;/b&gt;" in html
    assert "<dt>Why</dt>" in html and "<p>simpler</p>" in html
    # Token use: 2 calls of 120 tokens; cost summed.
    tokens = re.search(r'<dd id="run-tokens">(.*?)</dd>', html, re.S).group(1)
    assert '<span class="run-token-total">240</span> tokens in 2 model calls' in tokens
    assert "200 in, of which 80 cached; 40 out" in tokens
    assert re.search(r'<dd id="run-cost">\s*\$0\.0020', html)
    # Ended: no polling, Retry offered, no Cancel.
    assert POLLING not in html and 'id="run-live"' not in html
    assert f'action="{url("run-retry", project, run.pk)}"' in html
    assert url("run-cancel", project, run.pk) not in html


def test_usage_an_external_agent_reported_without_split_or_cost(browser, project):
    run = build_run(project, steps=0, status="running")

    def report(value: float, metadata: dict) -> None:
        Metric.objects.create(
            project=project,
            agent=run.agent,
            run=run,
            type="token_usage",
            value=value,
            metadata=metadata,
        )

    report(500, {})  # a bare total, no cost
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    tokens = re.search(r'<dd id="run-tokens">(.*?)</dd>', html, re.S).group(1)
    assert "500</span> tokens in 1 model call" in tokens
    assert "reported without an input/output split" in tokens and "0 in" not in tokens
    cost = re.search(r'<dd id="run-cost">(.*?)</dd>', html, re.S).group(1)
    assert "not reported" in cost and "$" not in cost

    report(300, {"input_tokens": 200, "output_tokens": 100})
    Metric.objects.create(project=project, agent=run.agent, run=run, type="cost", value=0.01)
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    tokens = re.search(r'<dd id="run-tokens">(.*?)</dd>', html, re.S).group(1)
    assert "200 in, of which 0 cached; 100 out; 500 reported without a split" in tokens
    cost = re.search(r'<dd id="run-cost">(.*?)</dd>', html, re.S).group(1)
    assert "$0.0100" in cost and "not reported" not in cost  # costs may come as one sum


def test_a_tool_call_the_model_asked_for_but_never_started(browser, project):
    run = build_run(project, steps=0, status="running")
    AgentStep.objects.create(
        run=run, number=1, attempts=2, reply=reply("", ("x1", "list_tasks", "not json {"))
    )
    tool_call(run, None, "", "remember", {"note": "reported"})  # external: no step

    html = browser.get(url("run-detail", project, run.pk)).content.decode()

    live = re.search(r'<li id="run-live".*?</li>\n', html, re.S).group(0)
    assert 'id="run-step-1"' in live and "2 attempts" in live
    assert '<span class="badge badge--requested">not started yet</span>' in live
    assert "not json {" in live
    loose = re.search(r'<section id="run-loose-calls".*?</section>', html, re.S).group(0)
    assert "remember" in loose and '<span class="badge badge--running">running</span>' in loose


def test_run_detail_polls_while_running_and_appends_finished_steps(browser, project):
    run = build_run(project, steps=2, status="running")
    AgentStep.objects.create(run=run, number=3, reply=reply("Working on it"))

    html = browser.get(url("run-detail", project, run.pk)).content.decode()

    timeline = re.search(r'<ol id="run-steps" class="timeline">(.*?)</ol>\n', html, re.S).group(1)
    live = re.search(r'<li id="run-live"[^>]*>', timeline).group(0)
    assert POLLING in live and 'hx-swap="outerHTML"' in live
    assert f"{url('run-detail', project, run.pk)}?after=2&amp;" in live
    # Steps 1 and 2 are settled; step 3 is still running, inside the live item.
    assert timeline.index('id="run-step-2"') < timeline.index('id="run-live"')
    assert timeline.index('id="run-live"') < timeline.index('id="run-step-3"')
    assert f'action="{url("run-cancel", project, run.pk)}"' in html
    assert url("run-retry", project, run.pk) not in html

    # Step 3 finishes and step 4 starts: the poll appends 3 and keeps polling.
    AgentStep.objects.filter(run=run, number=3).update(status=AgentStep.Status.DONE)
    AgentStep.objects.create(run=run, number=4)
    response = browser.get(url("run-detail", project, run.pk) + "?after=2", **HTMX)

    fragment = response.content.decode()
    assert "<html" not in fragment
    assert re.findall(r'id="run-step-(\d+)"', fragment) == ["3", "4"]
    assert "Thinking about step 2" not in fragment  # already shown
    assert fragment.lstrip().startswith('<li class="timeline-item">')
    assert re.search(r'<li id="run-live"[^>]*\?after=3&amp;', fragment)
    assert POLLING in fragment
    assert '<section id="run-summary" class="panel run run--running"' in fragment
    assert 'hx-swap-oob="true"' in fragment

    # The run ends: the last poll appends the rest and carries no poller.
    AgentStep.objects.filter(run=run, number=4).update(status=AgentStep.Status.DONE)
    AgentRun.objects.filter(pk=run.pk).update(
        status=AgentRun.Status.SUCCEEDED, finished_at=timezone.now(), result={"summary": "All done"}
    )
    fragment = browser.get(url("run-detail", project, run.pk) + "?after=3", **HTMX)
    fragment = fragment.content.decode()
    assert re.findall(r'id="run-step-(\d+)"', fragment) == ["4"]
    assert "hx-trigger" not in fragment and 'id="run-live"' not in fragment
    assert '<span class="badge badge--succeeded">Succeeded</span>' in fragment
    assert "All done" in fragment
    full = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert POLLING not in full and "?after=" not in full


def test_a_cancelled_run_keeps_polling_until_its_step_in_flight_ends(browser, project, settings):
    run = build_run(project, steps=1, status="running")
    AgentStep.objects.create(run=run, number=2, reply=reply("Working on it"))
    AgentRun.objects.filter(pk=run.pk).update(
        status=AgentRun.Status.CANCELLED, finished_at=timezone.now()
    )

    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    live = re.search(r'<li id="run-live"[^>]*>', html).group(0)
    assert POLLING in live and "?after=1&amp;" in live
    assert '<span class="badge badge--cancelled">' in html
    assert url("run-cancel", project, run.pk) not in html  # ended: nothing to cancel

    AgentStep.objects.filter(run=run, number=2).update(status=AgentStep.Status.DONE)
    fragment = browser.get(url("run-detail", project, run.pk) + "?after=1", **HTMX)
    fragment = fragment.content.decode()
    assert re.findall(r'id="run-step-(\d+)"', fragment) == ["2"]
    assert "hx-trigger" not in fragment

    # A step whose worker died never settles: past the task time limit, polling stops.
    AgentStep.objects.create(run=run, number=3)
    settings.CELERY_TASK_TIME_LIMIT = 60
    AgentRun.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(minutes=2))
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert POLLING not in html and 'id="run-step-3"' in html


def test_a_run_that_ends_before_its_first_step_says_so(browser, project):
    run = build_run(project, steps=0, status="queued")
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert "Waiting for a worker" in html and "took no steps" not in html

    AgentRun.objects.filter(pk=run.pk).update(
        status=AgentRun.Status.CANCELLED, finished_at=timezone.now()
    )
    fragment = browser.get(url("run-detail", project, run.pk) + "?after=0", **HTMX)
    assert "This run took no steps." in fragment.content.decode()
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert html.count("This run took no steps.") == 1


def test_poll_replaces_decisions_only_when_they_changed(browser, project):
    run = build_run(project, steps=1, status="running")
    first = browser.get(url("run-detail", project, run.pk)).content.decode()
    poll_url = re.search(r'<li id="run-live"[^>]*hx-get="([^"]+)"', first).group(1)
    poll_url = poll_url.replace("&amp;", "&")

    unchanged = browser.get(poll_url, **HTMX).content.decode()
    DecisionLog.objects.create(project=project, run=run, decision="a fresh decision")
    changed = browser.get(poll_url, **HTMX).content.decode()

    assert 'id="run-decisions"' not in unchanged
    assert 'id="run-decisions"' in changed and "a fresh decision" in changed


@pytest.mark.parametrize("steps", [2, 20])
def test_run_detail_query_count_does_not_grow(browser, project, steps):
    run = build_run(project, steps=steps, status="running")

    with CaptureQueriesContext(connection) as page:
        html = browser.get(url("run-detail", project, run.pk)).content.decode()
    with CaptureQueriesContext(connection) as poll:
        browser.get(url("run-detail", project, run.pk) + "?after=1", **HTMX)

    assert html.count('class="step step--done"') == steps
    assert html.count('<code class="tool-name">') == 2 * steps
    # user, membership, run, steps, the count of calls outside a step, tool calls (those
    # of a page of them among them), decisions, token use; the page also reads the end of
    # the log (the session comes from the cache)
    assert len(page) == 9, [q["sql"] for q in page]
    assert len(poll) == 8, [q["sql"] for q in poll]


def test_a_refused_run_keeps_saying_whether_commands_run_confined(
    browser, project, settings, tmp_path
):
    settings.LLM_PROVIDER = "offline"
    Project.objects.filter(pk=project.pk).update(root_path=str(tmp_path))
    TaskFactory(project=project)
    AgentFactory(project=project, name="coder", type=Agent.Type.CODER)

    response = browser.post(url("project-run-start", project), **HTMX)

    html = response.content.decode()
    assert response.status_code == 400
    assert "coder: The offline LLM provider cannot write code." in html
    assert 'id="commands-confinement"' in html
    assert not AgentRun.objects.exists()


def test_a_coding_run_that_passed_says_its_task_waits_for_review(browser, project):
    task = TaskFactory(project=project, key="CALC-1", status=Task.Status.REVIEW)
    task.branch_name = "crewboard/CALC-1-1"
    task.save()
    run = build_run(
        project, steps=0, status="succeeded", task=task, branch_name="crewboard/CALC-1-1"
    )

    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert '<span class="badge badge--review" id="run-task-status">Review</span>' in html
    assert "CALC-1 waits for review: the work is on branch <code>crewboard/CALC-1-1</code>" in html

    # Once a person accepted it, the page says so instead.
    Task.objects.filter(pk=task.pk).update(status=Task.Status.DONE)
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert '<span class="badge badge--done" id="run-task-status">Done</span>' in html
    assert "waits for review" not in html


def test_the_last_poll_redraws_the_decisions_of_the_ended_run(browser, project):
    run = build_run(project, steps=0, status="running")
    first = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert "No decisions logged yet." in first
    poll_url = re.search(r'<li id="run-live"[^>]*hx-get="([^"]+)"', first).group(1)

    AgentRun.objects.filter(pk=run.pk).update(
        status=AgentRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    last = browser.get(poll_url.replace("&amp;", "&"), **HTMX).content.decode()

    assert 'id="run-decisions"' in last
    assert "No decisions logged." in last and "No decisions logged yet." not in last


def test_a_cli_run_says_its_work_is_in_the_log_not_in_steps(browser, project):
    agent = AgentFactory(project=project, executor="command", executor_command=["./c"])
    run = build_run(project, steps=0, status="running", agent=agent)
    live = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert "Command of your own takes no steps here: its work shows in the log." in live
    assert "Waiting for the next step" not in live

    AgentRun.objects.filter(pk=run.pk).update(
        status=AgentRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    ended = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert "This run took no steps. Command of your own works outside the step loop" in ended
