"""The live agent pages: agents and their runs, run detail, the activity feed, usage
metrics with their server-drawn SVG charts, and the human-checkpoint inbox."""

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents import charts, selectors
from agents.models import (
    Agent,
    AgentRun,
    AgentStep,
    Checkpoint,
    DecisionLog,
    Metric,
    PlanningCycle,
    ToolCall,
)
from planning.models import Project, Task
from tests.factories import (
    AgentFactory,
    AgentRunFactory,
    TaskDependencyFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
POLLING = 'hx-trigger="every 2s"'
SVG = "{http://www.w3.org/2000/svg}"


def url(name: str, project: Project, *args: object) -> str:
    return reverse(f"agents:{name}", args=[project.slug, *args])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# Building runs -------------------------------------------------------------------------


def reply(content: str, *calls: tuple[str, str, str]) -> dict:
    """An OpenAI-shaped assistant message asking for (call id, tool, arguments) calls."""
    message: dict = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
            for cid, name, args in calls
        ]
    return message


def tool_call(run: AgentRun, step: int, call_id: str, name: str, input: dict, **completion):
    """A started row and, when `completion` is given, its completion row (append-only)."""
    started = ToolCall.objects.create(
        project=run.project,
        agent=run.agent,
        run=run,
        task_id=run.task_id,
        step=step,
        call_id=call_id,
        tool_name=name,
        input=input,
    )
    if completion:
        ToolCall.objects.create(
            project=run.project,
            agent=run.agent,
            run=run,
            task_id=run.task_id,
            started=started,
            tool_name=name,
            **completion,
        )
    return started


def token_use(run: AgentRun, *, input_tokens: int, output_tokens: int, cost: float, **kw):
    metadata = {
        "model": kw.pop("model", "gpt-test"),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": kw.pop("cached", 0),
    }
    at = kw.pop("recorded_at", timezone.now())
    agent = kw.pop("agent", run.agent)
    Metric.objects.create(
        project=run.project,
        agent=agent,
        run=run,
        type=Metric.Type.TOKEN_USAGE,
        value=input_tokens + output_tokens,
        metadata=metadata,
        recorded_at=at,
    )
    Metric.objects.create(
        project=run.project,
        agent=agent,
        run=run,
        type=Metric.Type.COST,
        value=cost,
        metadata={"model": metadata["model"], "currency": "USD", "priced": True},
        recorded_at=at,
    )


def build_run(project: Project, *, steps: int, status: str = "succeeded", **kw) -> AgentRun:
    """A run of `steps` finished steps, each with a reply, two tool calls (one succeeded,
    one failed), a decision and token use."""
    agent = kw.pop("agent", None) or AgentFactory(project=project)
    task = kw.pop("task", None) or TaskFactory(project=project)
    now = timezone.now()
    ended = status not in ("queued", "running")
    run = AgentRunFactory(
        agent=agent,
        task=task,
        status=status,
        started_at=now - timedelta(minutes=5),
        finished_at=now if ended else None,
        **kw,
    )
    for n in range(1, steps + 1):
        AgentStep.objects.create(
            run=run,
            number=n,
            status=AgentStep.Status.DONE,
            attempts=1,
            reply=reply(
                f"Thinking about step {n}",
                (f"c{n}a", "get_task", '{"key": "T1"}'),
                (f"c{n}b", "set_state", '{"key": "k"}'),
            ),
            finished_at=now,
        )
        tool_call(
            run,
            n,
            f"c{n}a",
            "get_task",
            {"key": "T1"},
            status="succeeded",
            output={"name": f"output of step {n}"},
            duration_ms=12,
        )
        tool_call(
            run,
            n,
            f"c{n}b",
            "set_state",
            {"key": "k"},
            status="failed",
            error=f"state is read-only in step {n}",
            duration_ms=3,
        )
        DecisionLog.objects.create(
            project=project, agent=agent, run=run, decision=f"decided in step {n}"
        )
        token_use(run, input_tokens=100, output_tokens=20, cost=0.001, cached=40)
    return run


# Access --------------------------------------------------------------------------------


@pytest.fixture
def run(project) -> AgentRun:
    return build_run(project, steps=1, status="failed", error="model unreachable")


def page_urls(project: Project, run: AgentRun) -> list[str]:
    return [
        url("agent-list", project),
        url("run-list", project),
        url("run-detail", project, run.pk),
        url("activity", project),
        url("metrics", project),
        url("inbox", project),
        url("inbox-count", project),
    ]


def post_urls(project: Project, run: AgentRun, task: Task) -> list[str]:
    return [
        url("project-run-start", project),
        url("project-run-pause", project),
        url("project-run-cancel", project),
        url("run-cancel", project, run.pk),
        url("run-retry", project, run.pk),
        url("inbox-answer", project, task.pk),
    ]


@pytest.fixture
def checkpoint_task(project) -> Task:
    return TaskFactory(
        project=project,
        key="CP1",
        name="Check the login page",
        type=Task.Type.HUMAN_VERIFY,
        extra={"what-built": "A login page", "how-to-verify": "Log in as alice"},
    )


def test_anonymous_users_are_sent_to_login(client, project, run, checkpoint_task):
    responses = [client.get(path) for path in page_urls(project, run)] + [
        client.post(path) for path in post_urls(project, run, checkpoint_task)
    ]

    for response in responses:
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert AgentRun.objects.get(pk=run.pk).status == "failed"


def test_members_see_every_page(browser, project, run):
    for path in page_urls(project, run):
        assert browser.get(path).status_code == 200, path


def test_viewers_see_every_page_without_buttons(client, project, viewer, run, checkpoint_task):
    client.force_login(viewer)
    for path in page_urls(project, run):
        response = client.get(path)
        assert response.status_code == 200, path
        main = response.content.decode().split('<main class="page">')[-1]
        assert "<button" not in main and "<form" not in main, path


def test_non_members_get_404_everywhere(browser, other_project):
    theirs = build_run(other_project, steps=1, status="failed")
    task = TaskFactory(project=other_project, type=Task.Type.HUMAN_VERIFY)

    for path in page_urls(other_project, theirs):
        assert browser.get(path).status_code == 404, path
    for path in post_urls(other_project, theirs, task):
        assert browser.post(path).status_code == 404, path
    assert AgentRun.objects.get(pk=theirs.pk).status == "failed"
    assert not DecisionLog.objects.filter(task_id=task.pk).exists()


def test_someone_elses_run_under_my_project_is_404(browser, project, other_project):
    theirs = build_run(other_project, steps=1, status="running")

    assert browser.get(url("run-detail", project, theirs.pk)).status_code == 404
    assert browser.post(url("run-cancel", project, theirs.pk)).status_code == 404
    assert AgentRun.objects.get(pk=theirs.pk).status == "running"


def test_viewers_get_403_on_every_post(
    client, project, viewer, run, checkpoint_task, django_capture_on_commit_callbacks
):
    AgentFactory(project=project, name="coder-x")
    client.force_login(viewer)

    with django_capture_on_commit_callbacks() as callbacks:
        for path in post_urls(project, run, checkpoint_task):
            assert client.post(path, {"verdict": "approve"}).status_code == 403, path
            assert client.post(path, {"verdict": "approve"}, **HTMX).status_code == 403, path

    assert callbacks == []
    project.refresh_from_db()
    assert project.status == Project.Status.PLANNING
    assert AgentRun.objects.get(pk=run.pk).status == "failed"
    assert AgentRun.objects.count() == 1
    assert Task.objects.get(pk=checkpoint_task.pk).status == "pending"
    assert not DecisionLog.objects.filter(task_id=checkpoint_task.pk).exists()
    assert not Checkpoint.objects.exists()


# Agents list: live status, run controls, latest runs -----------------------------------


def test_agent_status_polls_while_the_project_runs(browser, project):
    AgentFactory(project=project, name="coder-a")

    idle = browser.get(url("agent-list", project)).content.decode()
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ACTIVE)
    running = browser.get(url("agent-list", project)).content.decode()

    assert POLLING not in re.search(r'<section id="agent-status".*?>', idle, re.S).group(0)
    assert POLLING in re.search(r'<section id="agent-status".*?>', running, re.S).group(0)


def test_agent_status_polls_while_an_agent_is_busy(browser, project):
    task = TaskFactory(project=project, key="T7", name="Wire it")
    AgentFactory(
        project=project,
        name="coder-a",
        status=Agent.Status.BUSY,
        current_task=task,
        last_activity_at=timezone.now() - timedelta(seconds=90),
    )

    response = browser.get(url("agent-list", project), **HTMX)

    html = response.content.decode()
    assert "<html" not in html and 'id="run-controls"' not in html
    assert html.lstrip().startswith('<section id="agent-status"')
    assert POLLING in html
    assert f'hx-get="{url("agent-list", project)}"' in html
    assert '<span class="badge badge--busy">Busy</span>' in html
    assert "T7" in html and "Wire it" in html
    assert "1\xa0minute ago" in html


def test_the_polled_status_keeps_its_page(browser, project):
    for i in range(30):
        AgentFactory(project=project, name=f"agent-{i:02d}", status=Agent.Status.BUSY)

    html = browser.get(url("agent-list", project) + "?page=2", **HTMX).content.decode()

    assert f'hx-get="{url("agent-list", project)}?page=2"' in html
    assert "agent-25" in html and "agent-00" not in html


def test_status_stops_polling_when_nothing_runs(browser, project):
    AgentFactory(project=project, status=Agent.Status.IDLE)
    Project.objects.filter(pk=project.pk).update(status=Project.Status.PAUSED)

    html = browser.get(url("agent-list", project), **HTMX).content.decode()

    assert "hx-trigger" not in html and "hx-get" not in html


def test_run_controls_follow_the_project_status(browser, project):
    html = browser.get(url("agent-list", project)).content.decode()
    controls = re.search(r'<section id="run-controls".*?</section>', html, re.S).group(0)
    assert f'hx-post="{url("project-run-start", project)}"' in controls
    assert ">Run</button>" in controls
    assert url("project-run-pause", project) not in controls
    assert url("project-run-cancel", project) not in controls

    Project.objects.filter(pk=project.pk).update(status=Project.Status.ACTIVE)
    html = browser.get(url("agent-list", project)).content.decode()
    controls = re.search(r'<section id="run-controls".*?</section>', html, re.S).group(0)
    assert '<span class="badge badge--active">Active</span>' in controls
    assert url("project-run-start", project) not in controls
    assert f'hx-post="{url("project-run-pause", project)}"' in controls
    assert f'hx-post="{url("project-run-cancel", project)}"' in controls

    Project.objects.filter(pk=project.pk).update(status=Project.Status.PAUSED)
    html = browser.get(url("agent-list", project)).content.decode()
    assert ">Resume</button>" in html


def test_run_starts_the_project_on_ready_tasks(
    browser, project, django_capture_on_commit_callbacks
):
    agent = AgentFactory(project=project, name="coder-a", type=Agent.Type.CODER)
    task = TaskFactory(project=project, key="T1")

    with django_capture_on_commit_callbacks() as callbacks:
        response = browser.post(url("project-run-start", project), **HTMX)

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == url("agent-list", project)
    project.refresh_from_db()
    assert project.status == Project.Status.ACTIVE
    run = AgentRun.objects.get(project=project)
    assert (run.agent, run.task, run.status) == (agent, task, AgentRun.Status.RUNNING)
    assert len(callbacks) == 1  # the first step, enqueued on commit (not run here)
    assert Checkpoint.objects.filter(project=project, reason="run started").exists()
    assert messages_of(browser.get(url("agent-list", project))) == [
        "The project is running: started 1 run."
    ]


def test_run_without_a_coder_agent_says_why(browser, project):
    TaskFactory(project=project)
    AgentFactory(project=project, type=Agent.Type.EXTERNAL, name="claude")

    response = browser.post(url("project-run-start", project), **HTMX)

    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith('<section id="run-controls"')
    assert 'role="alert"' in html and "Add a coder" in html
    project.refresh_from_db()
    assert project.status == Project.Status.PLANNING
    assert not AgentRun.objects.exists()

    # Without htmx the message comes back on the page.
    response = browser.post(url("project-run-start", project), follow=True)
    assert any("Add a coder" in m for m in messages_of(response))


def test_pause_and_cancel(browser, project, django_capture_on_commit_callbacks):
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ACTIVE)
    active = build_run(project, steps=1, status="running")
    done = build_run(project, steps=1, status="succeeded")

    with django_capture_on_commit_callbacks():
        response = browser.post(url("project-run-pause", project), follow=True)
    assert response.redirect_chain == [(url("agent-list", project), 302)]
    assert messages_of(response) == [
        "Paused. No new runs start; running ones stop after their current step."
    ]
    project.refresh_from_db()
    assert project.status == Project.Status.PAUSED
    assert AgentRun.objects.get(pk=active.pk).status == "running"
    assert Checkpoint.objects.filter(project=project, reason="run paused").count() == 1

    with django_capture_on_commit_callbacks():
        response = browser.post(url("project-run-cancel", project), **HTMX)
    assert response.headers["HX-Redirect"] == url("agent-list", project)
    assert AgentRun.objects.get(pk=active.pk).status == "cancelled"
    assert AgentRun.objects.get(pk=done.pk).status == "succeeded"
    assert "cancelled 1 active run" in messages_of(browser.get(url("agent-list", project)))[0]


def test_the_agents_page_loads_the_latest_runs(browser, project):
    html = browser.get(url("agent-list", project)).content.decode()

    assert re.search(
        rf'<div id="run-table" hx-get="{url("run-list", project)}" hx-trigger="load"', html
    )


def test_run_table_shows_the_latest_20_runs(browser, project, other_project):
    agent = AgentFactory(project=project, name="coder-a")
    base = timezone.now() - timedelta(hours=1)
    runs = []
    for i in range(22):
        task = TaskFactory(project=project, key=f"K{i:02d}", name=f"Task number {i}")
        run = AgentRunFactory(agent=agent, task=task, status="succeeded", started_at=base)
        AgentRun.objects.filter(pk=run.pk).update(created_at=base + timedelta(minutes=i))
        runs.append(run)
    build_run(other_project, steps=0, status="running")

    response = browser.get(url("run-list", project), **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="run-table"')
    assert html.count('<tr id="run-') == 20
    assert "K21" in html and "K02" in html and "K01" not in html
    assert html.index("K21") < html.index("K20")
    assert f'href="{url("run-detail", project, runs[21].pk)}"' in html
    assert '<span class="badge badge--succeeded">Succeeded</span>' in html
    assert "coder-a" in html and "ago" in html
    assert "hx-trigger" not in html  # nothing active: no polling
    page_two = browser.get(url("run-list", project) + "?page=2").content.decode()
    assert "K01" in page_two and "K00" in page_two


def test_run_table_polls_while_a_run_is_active(browser, project):
    build_run(project, steps=0, status="queued")

    html = browser.get(url("run-list", project), **HTMX).content.decode()

    assert POLLING in html and f'hx-get="{url("run-list", project)}"' in html
    assert '<span class="badge badge--queued">Queued</span>' in html


@pytest.mark.parametrize("n_runs", [2, 20])
def test_run_table_query_count_does_not_grow(browser, project, n_runs, django_assert_num_queries):
    for _ in range(n_runs):
        build_run(project, steps=0, status="running")

    # session, user, membership, count, rows (agent and task joined)
    with django_assert_num_queries(5):
        response = browser.get(url("run-list", project), **HTMX)

    assert response.content.decode().count('<tr id="run-') == n_runs


# Run detail ------------------------------------------------------------------------------


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
    assert "&quot;why&quot;: &quot;simpler&quot;" in html
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
    # session, user, membership, run, steps, tool calls, decisions, token use
    assert len(page) == 8, [q["sql"] for q in page]
    assert len(poll) == 8, [q["sql"] for q in poll]


def test_cancel_a_running_run(browser, project):
    task = TaskFactory(project=project, status=Task.Status.IN_PROGRESS)
    run = build_run(project, steps=1, status="running", task=task)

    response = browser.post(url("run-cancel", project, run.pk), **HTMX)

    assert response.headers["HX-Redirect"] == url("run-detail", project, run.pk)
    run.refresh_from_db()
    assert run.status == AgentRun.Status.CANCELLED and run.error == "cancelled by alice"
    assert Task.objects.get(pk=task.pk).status == Task.Status.PENDING
    # Cancelling again is refused with a message, not an error page.
    response = browser.post(url("run-cancel", project, run.pk), follow=True)
    assert any("already cancelled" in m for m in messages_of(response))


def test_retry_a_failed_run(browser, project, django_capture_on_commit_callbacks):
    run = build_run(project, steps=2, status="failed", error="model unreachable")
    AgentStep.objects.filter(run=run, number=2).update(status=AgentStep.Status.FAILED)

    with django_capture_on_commit_callbacks() as callbacks:
        response = browser.post(url("run-retry", project, run.pk))

    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == AgentRun.Status.RUNNING and run.error == ""
    assert AgentStep.objects.get(run=run, number=2).status == AgentStep.Status.RUNNING
    assert len(callbacks) == 1  # step 2 enqueued again, on commit
    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert "Retrying run" in html and POLLING in html


def test_retry_is_refused_for_runs_that_did_not_fail(browser, project):
    run = build_run(project, steps=1, status="succeeded")

    response = browser.post(url("run-retry", project, run.pk), follow=True)

    assert any("Only a failed run can be retried" in m for m in messages_of(response))
    assert AgentRun.objects.get(pk=run.pk).status == "succeeded"


def test_an_external_agents_failed_run_is_not_retried_here(
    browser, project, django_capture_on_commit_callbacks
):
    agent = AgentFactory(project=project, type=Agent.Type.EXTERNAL, name="claude")
    run = build_run(project, steps=0, status="failed", agent=agent)

    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        browser.post(url("run-retry", project, run.pk))

    assert url("run-retry", project, run.pk) not in html
    assert callbacks == []
    assert AgentRun.objects.get(pk=run.pk).status == "failed"


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
    # session, user, membership, tool calls, decisions, cycles, runs started, runs
    # finished, whether a run is active
    with django_assert_num_queries(9):
        response = browser.get(url("activity", project))

    assert response.content.decode().count('class="activity-item ') == min(100, runs * 12)


# Metrics ---------------------------------------------------------------------------------


@pytest.fixture
def usage(project):
    """Two days of model calls by two agents, one of them on two models."""
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    coder = AgentFactory(project=project, name="coder-a")
    planner = AgentFactory(project=project, name="planner <p>", type=Agent.Type.PLANNER)
    run = AgentRunFactory(agent=coder)
    plan_run = AgentRunFactory(agent=planner)
    for at, agent, model, tokens, cost in [
        (yesterday, coder, "gpt-4o", 100, 0.01),
        (yesterday, coder, "gpt-4o", 50, 0.005),
        (today, coder, "gpt-4o", 300, 0.03),
        (today, coder, "gpt-4o-mini", 1000, 0.002),
        (today, planner, "gpt-4o", 2000, 0.2),
    ]:
        token_use(
            run if agent == coder else plan_run,
            input_tokens=tokens,
            output_tokens=0,
            cost=cost,
            model=model,
            recorded_at=at,
            agent=agent,
        )
    # Not usage: ignored.
    Metric.objects.create(project=project, agent=coder, type="latency", value=999)
    return today.date(), yesterday.date()


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

    # session, user, membership, the aggregate
    with django_assert_num_queries(4):
        response = browser.get(url("metrics", project))

    assert response.content.decode().count("<svg ") == 2


# The chart itself --------------------------------------------------------------------------


def chart_svg(**kw) -> ET.Element:
    defaults = {
        "chart_id": "c",
        "title": "Tokens",
        "categories": ["2025-01-01", "2025-01-02", "2025-01-03"],
        "series": [
            charts.Series("alpha", [10, 0, 30]),
            charts.Series("beta", [5, 5, 5]),
        ],
    }
    return ET.fromstring(str(charts.stacked_bar_chart(**{**defaults, **kw})))


def series_groups(svg: ET.Element) -> dict[str, list[ET.Element]]:
    return {
        g.get("data-series"): g.findall(f"{SVG}rect")
        for g in svg.iter(f"{SVG}g")
        if g.get("data-series") is not None
    }


def test_chart_is_valid_svg_with_a_bar_per_series_and_day():
    svg = chart_svg(x_title="Day (UTC)", y_title="Tokens")

    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    groups = series_groups(svg)
    assert [len(groups["alpha"]), len(groups["beta"])] == [2, 3]  # zero values draw nothing
    titles = [r.find(f"{SVG}title").text for r in groups["alpha"]]
    assert titles == ["2025-01-01 · alpha: 10", "2025-01-03 · alpha: 30"]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "Day (UTC)" in texts and "Tokens" in texts  # axis titles
    assert "alpha" in texts and "beta" in texts  # legend
    assert "0" in texts and "40" in texts  # y ticks up to the tallest stack (35)
    assert "2025-01-02" in texts  # x labels


def test_chart_stacks_segments_of_a_day():
    groups = series_groups(chart_svg())
    alpha, beta = groups["alpha"][1], groups["beta"][2]  # both on 2025-01-03

    assert alpha.get("x") == beta.get("x")
    # beta sits on top of alpha: its bottom edge is alpha's top edge.
    beta_bottom = float(beta.get("y")) + float(beta.get("height"))
    assert beta_bottom == pytest.approx(float(alpha.get("y")), abs=0.02)
    assert float(alpha.get("height")) == pytest.approx(6 * float(beta.get("height")), rel=0.01)


def test_chart_escapes_every_label():
    nasty = '<script>alert("x")</script> & co'

    markup = str(
        charts.stacked_bar_chart(
            chart_id="c",
            title=nasty,
            categories=[nasty],
            series=[charts.Series(nasty, [1])],
            x_title=nasty,
            y_title=nasty,
        )
    )
    svg = ET.fromstring(markup)

    assert "<script" not in markup and "&lt;script&gt;" in markup
    assert svg.find(f"{SVG}title").text == nasty
    assert next(iter(series_groups(svg))) == nasty
    assert svg.find(f".//{SVG}rect/{SVG}title").text == f"{nasty} · {nasty}: 1"


def test_chart_colours_come_from_classes_not_styles():
    series = [charts.Series(f"s{i}", [1]) for i in range(10)]
    markup = str(charts.stacked_bar_chart(chart_id="c", title="t", categories=["d"], series=series))
    svg = ET.fromstring(markup)

    assert "style" not in markup and "fill=" not in markup
    classes = [g.get("class") for g in svg.iter(f"{SVG}g") if g.get("data-series")]
    assert classes[0] == "chart-series chart-series--0"
    assert classes[9] == "chart-series chart-series--1"  # the palette repeats


def test_chart_without_data_still_parses():
    svg = chart_svg(categories=[], series=[])

    assert series_groups(svg) == {}
    assert svg.find(f"{SVG}title").text == "Tokens"


def test_nice_steps_and_formats():
    assert charts.nice_step(35) == 10
    assert charts.nice_step(1234) == 500
    assert charts.nice_step(0) == 1
    assert charts.compact_number(12345) == "12.3k"
    assert charts.compact_number(2_500_000) == "2.5M"
    assert charts.dollars(0.0042) == "$0.0042"
    assert charts.dollars(12.345) == "$12.35"


# Human-checkpoint inbox -----------------------------------------------------------------------


@pytest.fixture
def decision_task(project) -> Task:
    return TaskFactory(
        project=project,
        key="CP2",
        name="Pick a database",
        type=Task.Type.DECISION,
        extra={
            "options": [
                {"id": "pg", "name": "PostgreSQL", "pros": ["SKIP LOCKED"], "cons": ["a server"]},
                {"id": "lite", "name": "SQLite", "pros": "no server", "cons": ["one writer"]},
            ]
        },
    )


@pytest.fixture
def later_task(project, checkpoint_task) -> Task:
    """A checkpoint that waits on an unfinished coding task."""
    blocker = TaskFactory(project=project, key="T1", name="Build it")
    task = TaskFactory(project=project, key="CP3", name="Check it", type=Task.Type.HUMAN_VERIFY)
    TaskDependencyFactory(task=task, depends_on=blocker)
    return task


def inbox_section(html: str, title_id: str) -> str:
    match = re.search(rf'<section [^>]*aria-labelledby="{title_id}">.*?</section>', html, re.S)
    return match.group(0) if match else ""


def test_inbox_shows_what_to_verify_and_the_options(
    browser, project, checkpoint_task, decision_task, later_task
):
    html = browser.get(url("inbox", project)).content.decode()

    ready = inbox_section(html, "inbox-ready-title")
    assert "Check the login page" in ready
    assert "A login page" in ready and "Log in as alice" in ready
    assert 'name="verdict" value="approve"' in ready and 'name="verdict" value="reject"' in ready
    assert "PostgreSQL" in ready and "SKIP LOCKED" in ready and "a server" in ready
    assert "SQLite" in ready and "no server" in ready and "one writer" in ready
    assert 'name="choice" value="pg"' in ready and 'name="choice" value="lite"' in ready
    assert f'hx-post="{url("inbox-answer", project, checkpoint_task.pk)}"' in ready
    assert "Check it" not in ready
    # Not ready: shown apart, greyed, without buttons.
    waiting = inbox_section(html, "inbox-waiting-title")
    assert "Check it" in waiting and "inbox-item--not-ready" in waiting
    assert '<span class="key">T1</span> (pending)' in waiting
    assert "<form" not in waiting and "<button" not in waiting


def test_approving_logs_a_decision_and_removes_the_item(browser, project, checkpoint_task):
    response = browser.post(
        url("inbox-answer", project, checkpoint_task.pk),
        {"verdict": "approve", "note": "works for me"},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="inbox">')
    assert "You approved CP1." in html
    assert "Check the login page" not in html
    assert json.loads(response.headers["HX-Trigger"]) == {"inbox-changed": {}}
    assert Task.objects.get(pk=checkpoint_task.pk).status == Task.Status.DONE
    decision = DecisionLog.objects.get(task_id=checkpoint_task.pk)
    assert decision.decision == "alice approved CP1: Check the login page"
    assert decision.reasoning["approved"] is True
    assert decision.reasoning["note"] == "works for me"


def test_rejecting_blocks_the_task(browser, project, checkpoint_task):
    response = browser.post(
        url("inbox-answer", project, checkpoint_task.pk),
        {"verdict": "reject", "note": "button missing"},
        **HTMX,
    )

    html = response.content.decode()
    assert "You rejected CP1; it is blocked now." in html
    assert "Check the login page" not in inbox_section(html, "inbox-ready-title")
    assert "Check the login page" in inbox_section(html, "inbox-aside-title")
    assert Task.objects.get(pk=checkpoint_task.pk).status == Task.Status.BLOCKED
    decision = DecisionLog.objects.get(task_id=checkpoint_task.pk)
    assert (
        decision.reasoning["approved"] is False and decision.reasoning["note"] == "button missing"
    )


def test_choosing_an_option(browser, project, decision_task):
    response = browser.post(url("inbox-answer", project, decision_task.pk), {"choice": "lite"})

    assert response.status_code == 302
    assert Task.objects.get(pk=decision_task.pk).status == Task.Status.DONE
    decision = DecisionLog.objects.get(task_id=decision_task.pk)
    assert decision.reasoning["choice"] == "lite" and decision.reasoning["approved"] is True
    assert "chose lite" in decision.decision
    assert messages_of(browser.get(response.url)) == ["You chose “SQLite” for CP2."]


def test_an_answer_unblocks_the_next_checkpoint(browser, project, checkpoint_task):
    after = TaskFactory(project=project, key="CP9", name="Then this", type=Task.Type.HUMAN_VERIFY)
    TaskDependencyFactory(task=after, depends_on=checkpoint_task)

    html = browser.post(
        url("inbox-answer", project, checkpoint_task.pk), {"verdict": "approve"}, **HTMX
    ).content.decode()

    assert "Then this" in inbox_section(html, "inbox-ready-title")


def test_an_unknown_choice_is_refused_on_the_item(browser, project, decision_task):
    response = browser.post(
        url("inbox-answer", project, decision_task.pk),
        {"choice": "mongo", "note": "keep me"},
        **HTMX,
    )

    html = response.content.decode()
    assert response.status_code == 400
    item = re.search(rf'<li [^>]*id="inbox-task-{decision_task.pk}">.*?</form>', html, re.S)
    assert "Choose one of: pg, lite." in item.group(0)
    assert ">keep me</textarea>" in item.group(0)
    assert "HX-Trigger" not in response.headers
    assert Task.objects.get(pk=decision_task.pk).status == Task.Status.PENDING
    assert not DecisionLog.objects.exists()


def test_an_answer_needs_a_verdict(browser, project, checkpoint_task):
    response = browser.post(url("inbox-answer", project, checkpoint_task.pk), {}, **HTMX)

    assert response.status_code == 400
    assert "Approve, reject, or choose one of the options." in response.content.decode()
    assert not DecisionLog.objects.exists()


def test_answering_twice_says_it_is_done(browser, project, checkpoint_task):
    browser.post(url("inbox-answer", project, checkpoint_task.pk), {"verdict": "approve"})

    response = browser.post(
        url("inbox-answer", project, checkpoint_task.pk), {"verdict": "reject"}, **HTMX
    )

    assert response.status_code == 400
    assert "CP1 is already done." in response.content.decode()
    assert DecisionLog.objects.count() == 1
    assert Task.objects.get(pk=checkpoint_task.pk).status == Task.Status.DONE


def test_only_checkpoint_tasks_can_be_answered(browser, project):
    task = TaskFactory(project=project, type=Task.Type.AUTO)

    response = browser.post(url("inbox-answer", project, task.pk), {"verdict": "approve"})

    assert response.status_code == 404
    assert Task.objects.get(pk=task.pk).status == Task.Status.PENDING


def test_the_nav_counts_ready_checkpoints(browser, project, checkpoint_task, later_task):
    page = browser.get(reverse("planning:project-detail", args=[project.slug])).content.decode()
    badge = browser.get(url("inbox-count", project), **HTMX).content.decode()

    assert re.search(
        rf'<span id="inbox-count" class="tab-count" hx-get="{url("inbox-count", project)}" '
        r'hx-trigger="load, inbox-changed from:body"',
        page,
    )
    assert 'hx-trigger="inbox-changed from:body"' in badge  # no "load": it would loop
    assert re.search(r'title="1 checkpoint waiting for you">1</span>$', badge.strip())
    Task.objects.filter(pk=checkpoint_task.pk).update(status=Task.Status.DONE)
    badge = browser.get(url("inbox-count", project), **HTMX).content.decode()
    assert re.search(r'hx-swap="outerHTML"></span>$', badge.strip())


# CSP -----------------------------------------------------------------------------------------


def test_pages_need_no_inline_script_or_style(
    browser, project, checkpoint_task, decision_task, later_task, usage
):
    run = build_run(project, steps=2, status="running")
    pages = [
        url("agent-list", project),
        url("run-list", project),
        url("run-detail", project, run.pk),
        url("activity", project),
        url("metrics", project),
        url("inbox", project),
        reverse("agents:agent-key", args=[project.slug, AgentFactory(project=project).pk]),
    ]
    fragments = [
        url("agent-list", project),
        url("run-list", project),
        url("run-detail", project, run.pk) + "?after=1",
        url("activity", project),
        url("inbox", project),
        url("inbox-count", project),
    ]
    responses = [browser.get(p) for p in pages] + [browser.get(p, **HTMX) for p in fragments]
    external = AgentFactory(project=project, type="external")
    responses.append(browser.post(reverse("agents:agent-key", args=[project.slug, external.pk])))
    for response in responses:
        html = response.content.decode()
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
        assert "style=" not in html and "<style" not in html
        assert "hx-on" not in html and "javascript:" not in html


def test_add_agent_from_the_agents_page(browser, project):
    from agents.models import Agent

    url = f"/agents/projects/{project.slug}/add/"
    response = browser.post(url, {"name": "coder-9", "type": "coder", "model": ""}, follow=True)
    assert "Added coder agent coder-9." in response.content.decode()
    assert Agent.objects.get(project=project, name="coder-9").type == "coder"
    response = browser.post(url, {"name": "coder-9", "type": "coder"}, follow=True)
    assert Agent.objects.filter(project=project, name="coder-9").count() == 1
    assert "messages" in response.context and list(response.context["messages"])


def _heartbeat_status(client, project: Project, key: str) -> int:
    return client.post(
        f"/api/v1/projects/{project.slug}/agents/heartbeat/",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Agent {key}",
    ).status_code


def _shown_key(response) -> str:
    html = response.content.decode()
    return re.search(r'id="agent-key-value" type="text" value="([^"]+)"', html).group(1)


def test_adding_an_external_agent_shows_its_key_once(browser, project):
    from agents.models import Agent

    response = browser.post(
        f"/agents/projects/{project.slug}/add/", {"name": "claude-1", "type": "external"}
    )
    assert response.status_code == 200  # answered in place: the key is never stored
    assert "no-store" in response.headers["Cache-Control"]
    key = _shown_key(response)
    agent = Agent.objects.get(project=project, name="claude-1")
    assert agent.type == "external" and agent.api_key_prefix == key[:12]
    assert key not in agent.api_key_hash
    assert f"/api/v1/projects/{project.slug}/tasks/claim/" in response.content.decode()
    assert _heartbeat_status(browser, project, key) == 200

    listing = browser.get(url("agent-list", project)).content.decode()
    assert key not in listing and f"{key[:12]}…" in listing
    assert reverse("agents:agent-key", args=[project.slug, agent.pk]) in listing


def test_a_new_key_from_the_agents_page_replaces_the_old_one(browser, project):
    from agents import services

    agent = AgentFactory(project=project, name="claude-2", type="external")
    old_key = services.agent_key_issue(agent=agent).key
    key_url = reverse("agents:agent-key", args=[project.slug, agent.pk])

    confirm = browser.get(key_url).content.decode()
    assert f"{old_key[:12]}…" in confirm and "stops working" in confirm
    assert _heartbeat_status(browser, project, old_key) == 200  # asking changes nothing

    new_key = _shown_key(browser.post(key_url))
    assert new_key != old_key
    assert _heartbeat_status(browser, project, old_key) == 401
    assert _heartbeat_status(browser, project, new_key) == 200


def test_keys_only_for_external_agents_of_the_writers_own_project(
    browser, client, viewer, project, other_project
):
    coder = AgentFactory(project=project, name="coder-1", type="coder")
    response = browser.post(reverse("agents:agent-key", args=[project.slug, coder.pk]), follow=True)
    assert "only external agents use keys" in " ".join(messages_of(response))
    coder.refresh_from_db()
    assert coder.api_key_hash == ""

    elsewhere = AgentFactory(project=other_project, type="external")
    foreign_url = reverse("agents:agent-key", args=[project.slug, elsewhere.pk])
    assert browser.post(foreign_url).status_code == 404
    outsider_url = reverse("agents:agent-key", args=[other_project.slug, elsewhere.pk])
    assert browser.post(outsider_url).status_code == 404

    retired = AgentFactory(
        project=project, type="external", status="terminated", terminated_at=timezone.now()
    )
    retired_url = reverse("agents:agent-key", args=[project.slug, retired.pk])
    assert "is terminated" in browser.get(retired_url).content.decode()
    assert "is terminated" in " ".join(messages_of(browser.post(retired_url, follow=True)))

    external = AgentFactory(project=project, type="external")
    client.force_login(viewer)
    assert (
        client.post(reverse("agents:agent-key", args=[project.slug, external.pk])).status_code
        == 403
    )
    external.refresh_from_db()
    assert external.api_key_hash == ""


def test_a_refused_external_agent_gets_no_key(browser, project):
    from agents.models import Agent

    existing = AgentFactory(project=project, name="claude-1", type="external")
    response = browser.post(
        f"/agents/projects/{project.slug}/add/",
        {"name": "claude-1", "type": "external"},
        follow=True,
    )
    assert messages_of(response)  # the duplicate name, explained
    assert 'id="agent-key-value"' not in response.content.decode()
    existing.refresh_from_db()
    assert existing.api_key_hash == ""
    assert Agent.objects.filter(project=project).count() == 1


def test_viewers_cannot_add_agents(client, viewer, project):
    from agents.models import Agent

    client.force_login(viewer)
    response = client.post(f"/agents/projects/{project.slug}/add/", {"name": "x", "type": "coder"})
    assert response.status_code == 403
    assert not Agent.objects.exists()
