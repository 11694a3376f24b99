"""External agents report tool calls, decisions and metrics in batches: all or nothing,
replays write nothing new, and a batch costs the same queries whatever its size."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from agents.models import Agent, AgentRun, DecisionLog, Metric, ToolCall
from tests.agents.external_agents import claim, external_agent, tool_call, url
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(project) -> tuple[Agent, APIClient]:
    return external_agent(project)


@pytest.fixture
def running(project, worker) -> tuple[AgentRun, APIClient]:
    TaskFactory(project=project)
    _, client = worker
    run_id = claim(client, project).data["run"]["id"]
    return AgentRun.objects.get(pk=run_id), client


def test_a_batch_of_three_writes_three_starts_and_their_completions(project, running) -> None:
    run, client = running
    batch = [
        tool_call("c1", status="succeeded", output={"passed": 10}, duration_ms=12),
        tool_call("c2", status="failed", error="boom", duration_ms=3),
        tool_call("c3", status="succeeded", output=None),
    ]

    response = client.post(url(project, f"runs/{run.pk}/tool-calls/"), batch, format="json")

    assert response.status_code == 201, response.data
    assert response.data["written"] == 6
    started = ToolCall.objects.filter(run=run, started__isnull=True).order_by("id")
    assert [c.call_id for c in started] == ["c1", "c2", "c3"]
    assert {(c.agent_id, c.task_id, c.step) for c in started} == {(run.agent_id, run.task_id, None)}
    completions = {c.started.call_id: c for c in ToolCall.objects.filter(started__run=run)}
    assert completions["c1"].output == {"passed": 10} and completions["c1"].duration_ms == 12
    assert (completions["c2"].status, completions["c2"].error) == ("failed", "boom")
    assert [item["completion_id"] for item in response.data["tool_calls"]] == [
        completions[c].pk for c in ("c1", "c2", "c3")
    ]


def test_nul_characters_in_a_report_are_a_400_and_nothing_is_written(project, running) -> None:
    run, client = running
    endpoint = url(project, f"runs/{run.pk}/tool-calls/")
    batch = [
        tool_call("c1", status="succeeded"),
        tool_call("c2", input={"path": "a\u0000b"}, status="succeeded"),
    ]

    response = client.post(endpoint, batch, format="json")

    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert not ToolCall.objects.filter(run=run).exists()


def test_a_start_then_a_later_completion_of_the_same_call(project, running) -> None:
    run, client = running
    endpoint = url(project, f"runs/{run.pk}/tool-calls/")

    started = client.post(endpoint, tool_call("c1"), format="json")
    assert started.status_code == 201, started.data
    assert started.data["tool_calls"][0]["completion_id"] is None
    completed = client.post(
        endpoint, {"call_id": "c1", "status": "succeeded", "output": "ok"}, format="json"
    )

    assert completed.status_code == 201, completed.data
    assert completed.data["written"] == 1
    assert ToolCall.objects.filter(run=run, started__isnull=True).count() == 1
    completion = ToolCall.objects.get(run=run, started__isnull=False)
    assert completion.started_id == started.data["tool_calls"][0]["id"]
    assert completion.tool_name == "run_tests"


def test_a_replayed_batch_writes_nothing_new(project, running) -> None:
    run, client = running
    endpoint = url(project, f"runs/{run.pk}/tool-calls/")
    batch = [tool_call("c1", status="succeeded"), tool_call("c2")]
    first = client.post(endpoint, batch, format="json")

    again = client.post(endpoint, batch, format="json")

    assert again.status_code == 201
    assert again.data["written"] == 0
    assert again.data["tool_calls"] == first.data["tool_calls"]
    assert ToolCall.objects.filter(run=run).count() == 3


@pytest.mark.parametrize(
    "bad",
    [
        tool_call("c3", status="bogus"),
        tool_call("c3", duration_ms=-1, status="succeeded"),
        {"call_id": "c3", "status": "succeeded"},  # never started, no tool_name
        tool_call("c3", output="only with a status"),
        "not an object",
    ],
    ids=["status", "duration", "unstarted", "output without status", "not an object"],
)
def test_one_bad_item_rejects_the_whole_batch(project, running, bad) -> None:
    run, client = running
    batch = [tool_call("c1", status="succeeded"), tool_call("c2"), bad]

    response = client.post(url(project, f"runs/{run.pk}/tool-calls/"), batch, format="json")

    assert response.status_code == 400
    assert list(response.data["items"]) == ["2"]
    assert "Item 2" in response.data["detail"]
    assert not ToolCall.objects.exists()


def test_decisions_and_metrics_in_batches_and_singly(project, running) -> None:
    run, client = running

    decisions = client.post(
        url(project, f"runs/{run.pk}/decisions/"),
        [
            {"decision": "Use SQLite for tests"},
            {"decision": "Skip the flaky test", "reasoning": {"why": "x"}},
        ],
        format="json",
    )
    metric = client.post(
        url(project, f"runs/{run.pk}/metrics/"),
        {"type": "qa_iterations", "value": 2, "metadata": {"suite": "unit"}},
        format="json",
    )

    assert decisions.status_code == 201, decisions.data
    assert decisions.data["written"] == 2
    assert list(
        DecisionLog.objects.filter(run=run, task=run.task, agent=run.agent)
        .order_by("id")
        .values_list("decision", flat=True)
    ) == ["Use SQLite for tests", "Skip the flaky test"]
    assert metric.status_code == 201, metric.data
    assert Metric.objects.get(pk=metric.data["ids"][0]).value == 2


def test_a_bad_metric_or_decision_rejects_its_batch(project, running) -> None:
    run, client = running

    metrics = client.post(
        url(project, f"runs/{run.pk}/metrics/"),
        [{"type": "cost", "value": 0.1}, {"type": "vibes", "value": 1}],
        format="json",
    )
    decisions = client.post(
        url(project, f"runs/{run.pk}/decisions/"),
        [{"decision": "ok"}, {"decision": ""}],
        format="json",
    )

    assert metrics.status_code == 400 and list(metrics.data["items"]) == ["1"]
    assert decisions.status_code == 400 and list(decisions.data["items"]) == ["1"]
    assert not Metric.objects.exists() and not DecisionLog.objects.exists()


def test_reports_on_another_agents_run_are_refused(project, running) -> None:
    run, _ = running
    _, other = external_agent(project, "other")

    response = other.post(url(project, f"runs/{run.pk}/decisions/"), {"decision": "mine now"})

    assert response.status_code == 403
    assert not DecisionLog.objects.exists()


def test_an_empty_or_oversized_batch_is_refused(project, running) -> None:
    run, client = running
    endpoint = url(project, f"runs/{run.pk}/tool-calls/")

    assert client.post(endpoint, [], format="json").status_code == 400
    too_many = [tool_call(f"c{i}") for i in range(1001)]
    assert client.post(endpoint, too_many, format="json").status_code == 400
    assert not ToolCall.objects.exists()


def test_a_batch_costs_the_same_queries_whatever_its_size(project, running) -> None:
    run, client = running
    endpoint = url(project, f"runs/{run.pk}/tool-calls/")
    queries = {}

    for size in (3, 60):
        batch = [tool_call(f"n{size}-{i}", status="succeeded") for i in range(size)]
        with CaptureQueriesContext(connection) as captured:
            assert client.post(endpoint, batch, format="json").status_code == 201
        queries[size] = len(captured)

    assert queries[60] == queries[3]
    assert ToolCall.objects.filter(run=run).count() == 2 * 63
