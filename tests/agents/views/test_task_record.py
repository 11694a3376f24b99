"""A task's record on its page: its runs with links to their pages, its latest tool calls
with a link to the search of all of them, its decisions, reviews and merges, and a
history put together from them. The queries stay the same however long its past."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.models import AgentRun, DecisionLog, Merge, Review
from agents.task_record import CALLS_SHOWN, RUNS_SHOWN
from planning.models import Task
from tests.agents.views.pages import HTMX, url
from tests.agents.views.run_records import tool_call
from tests.factories import AgentFactory, AgentRunFactory, ProjectFactory, TaskFactory

pytestmark = pytest.mark.django_db


def record_url(task: Task) -> str:
    return url("task-record", task.project, task.key)


def a_past(task: Task, runs: int, calls_per_run: int = 2) -> list[AgentRun]:
    """`runs` finished attempts at `task`, an hour apart, each with tool calls and a
    decision; the last one reviewed and merged."""
    agent = AgentFactory(project=task.project, name=f"coder-{task.key}")
    start = timezone.now() - timedelta(days=1)
    made = []
    for i in range(runs):
        at = start + timedelta(hours=i)
        run = AgentRunFactory(
            agent=agent,
            task=task,
            status="failed" if i < runs - 1 else "succeeded",
            started_at=at,
            finished_at=at + timedelta(minutes=30),
            branch_name=f"crewboard/{task.key}-{i + 1}",
            attempt=i + 1,
        )
        AgentRun.objects.filter(pk=run.pk).update(created_at=at - timedelta(minutes=1))
        for n in range(calls_per_run):
            tool_call(run, 1, f"c{n}", "run_command", {"cmd": "pytest"}, status="succeeded")
        DecisionLog.objects.create(
            project=task.project, agent=agent, run=run, task=task, decision=f"Tried idea {i}"
        )
        made.append(run)
    last = made[-1]
    Review.objects.create(
        project=task.project,
        task=task,
        run=last,
        reviewer_agent=agent,
        verdict="approve",
        created_at=timezone.now() - timedelta(minutes=5),
    )
    Merge.objects.create(
        project=task.project,
        task=task,
        run=last,
        strategy="squash",
        status="merged",
        branch=last.branch_name,
        base_branch="main",
        merger_agent=agent,
        created_at=timezone.now() - timedelta(minutes=2),
        finished_at=timezone.now(),
    )
    return made


def test_the_record_shows_runs_calls_decisions_reviews_and_history(browser, project):
    task = TaskFactory(project=project, key="T1", status="done")
    runs = a_past(task, runs=2)

    response = browser.get(record_url(task), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="task-record"')
    for run in runs:
        assert f'href="{url("run-detail", project, run.pk)}">Run {run.pk}</a>' in html
    assert "crewboard/T1-2" in html
    assert html.count('<code class="tool-name">run_command</code>') == 4
    search = reverse("agents:tool-calls", args=[project.slug]) + "?task=T1"
    assert f'href="{search}"' in html
    assert "Tried idea 0" in html and "Tried idea 1" in html
    assert "Approve</span>" in html and "by coder-T1" in html
    assert 'crewboard/T1-2</span> into <span class="mono">main</span>' in html
    history = html[html.index('id="task-history"') :]
    order = [
        "Merge merged",
        "Merge of crewboard/T1-2 queued",
        "Review: Approve",
        f"Run {runs[1].pk} succeeded",
        f"Run {runs[1].pk} started (attempt 2)",
        f"Run {runs[1].pk} queued",
        f"Run {runs[0].pk} failed",
    ]
    positions = [history.index(what) for what in order]
    assert positions == sorted(positions), "newest first"


def test_only_the_latest_calls_and_runs_show(browser, project):
    task = TaskFactory(project=project, key="T1")
    runs = a_past(task, runs=RUNS_SHOWN + 1, calls_per_run=1)

    html = browser.get(record_url(task), **HTMX).content.decode()

    assert html.count('<code class="tool-name">') == CALLS_SHOWN
    assert f'id="task-run-{runs[-1].pk}"' in html
    assert f'id="task-run-{runs[0].pk}"' not in html
    assert "Older runs on the agents page" in html


def test_queries_stay_flat_as_the_past_grows(browser, project, django_assert_max_num_queries):
    small = TaskFactory(project=project, key="S")
    a_past(small, runs=1, calls_per_run=1)
    big = TaskFactory(project=project, key="B")
    a_past(big, runs=30, calls_per_run=5)

    with django_assert_max_num_queries(20) as few:
        browser.get(record_url(small), **HTMX)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert browser.get(record_url(big), **HTMX).status_code == 200


def test_a_task_nobody_worked_on_says_so_and_strangers_get_404(browser, project):
    task = TaskFactory(project=project, key="T1")

    html = browser.get(record_url(task), **HTMX).content.decode()
    assert "No agent has worked on it yet." in html
    assert "Nothing has happened to it yet." in html

    other = TaskFactory(project=ProjectFactory(), key="X1")
    assert browser.get(record_url(other), **HTMX).status_code == 404


def test_a_claimed_run_shows_its_start_without_a_queueing(browser, project):
    task = TaskFactory(project=project, key="T1", status="in_progress")
    run = AgentRunFactory(
        agent=AgentFactory(project=project), task=task, status="running", stage="verifying"
    )
    AgentRun.objects.filter(pk=run.pk).update(started_at=run.created_at)

    html = browser.get(record_url(task), **HTMX).content.decode()

    assert f"Run {run.pk} started" in html
    assert f"Run {run.pk} queued" not in html
    assert "· verifying" in html
