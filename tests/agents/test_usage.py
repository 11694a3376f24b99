"""Recording what model calls cost: tokens, latency and cost as append-only metrics."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.llm import ChatMessage, OfflineClient
from agents.models import Metric
from agents.services.usage import UsageContext, usage_record
from core.errors import DomainError
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory
from tests.fakes.openai_server import completion, usage_body

pytestmark = pytest.mark.django_db

PRICES = {"fake-model": {"input": 2.0, "cached_input": 0.5, "output": 8.0}}
QUESTION = [ChatMessage.user("What should we build first?")]


def _metrics(project) -> dict[str, Metric]:
    rows = list(Metric.objects.filter(project=project))
    by_type = {row.type: row for row in rows}
    assert len(by_type) == len(rows), "one row per type per call"
    return by_type


def test_a_calls_tokens_latency_and_cost_are_recorded_in_one_insert(
    llm_server, openai_client, settings, project
):
    settings.LLM_PRICES = PRICES
    settings.LLM_PLANNING_MODEL = "fake-model"
    agent = AgentFactory(project=project)
    run = AgentRunFactory(agent=agent, task=TaskFactory(project=project))
    llm_server.script(
        completion("Start with the importers.", usage=usage_body(1200, 300, cached=1000))
    )
    result = openai_client.complete(QUESTION, purpose="plan_chat")

    with CaptureQueriesContext(connection) as queries:
        usage_record(
            completion=result, context=UsageContext(project=project, run=run, purpose="plan_chat")
        )

    metric_inserts = [
        q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "agents_metric"')
    ]
    assert len(metric_inserts) == 1
    rows = _metrics(project)
    assert set(rows) == {"token_usage", "latency", "cost"}
    tokens = rows["token_usage"]
    # 1200 input (of which 1000 cached) + 300 output: cached tokens are not added again.
    assert tokens.value == 1500
    assert tokens.metadata == {
        "input_tokens": 1200,
        "output_tokens": 300,
        "cached_input_tokens": 1000,
        "usage_reported": True,
        "model": "fake-model",
        "provider": "openai",
        "purpose": "plan_chat",
    }
    # The agent and task come from the run.
    assert (tokens.agent, tokens.run, tokens.task) == (agent, run, run.task)
    assert rows["latency"].value == pytest.approx(result.latency_ms)
    assert rows["latency"].value > 0
    # 200 uncached input at $2, 1000 cached at $0.50, 300 output at $8, per million.
    assert rows["cost"].value == pytest.approx((200 * 2.0 + 1000 * 0.5 + 300 * 8.0) / 1e6)
    assert rows["cost"].metadata["priced"] is True
    assert len({row.recorded_at for row in rows.values()}) == 1


def test_a_model_without_a_price_records_zero_cost_marked_unpriced(
    llm_server, openai_client, settings, project
):
    settings.LLM_PRICES = PRICES
    llm_server.script(completion("Hi.", model="local-llama", usage=usage_body(40, 2)))

    usage_record(
        completion=openai_client.complete(QUESTION, model="local-llama"),
        context=UsageContext(project=project),
    )

    rows = _metrics(project)
    assert rows["token_usage"].value == 42
    assert rows["cost"].value == 0
    assert rows["cost"].metadata["priced"] is False
    assert rows["cost"].metadata["model"] == "local-llama"


def test_a_reply_without_usage_is_recorded_as_unreported(
    llm_server, openai_client, settings, project
):
    settings.LLM_PRICES = PRICES
    llm_server.script(completion("No usage from this server.", usage=None))

    usage_record(completion=openai_client.complete(QUESTION), context=UsageContext(project=project))

    rows = _metrics(project)
    assert rows["token_usage"].value == 0
    assert rows["token_usage"].metadata["usage_reported"] is False
    assert rows["latency"].value > 0


def test_offline_calls_record_usage_unpriced(project):
    result = OfflineClient().complete(QUESTION)

    usage_record(completion=result, context=UsageContext(project=project))

    rows = _metrics(project)
    assert rows["token_usage"].value == result.usage.total_tokens
    assert rows["token_usage"].metadata["provider"] == "offline"
    assert rows["cost"].metadata["priced"] is False


def test_usage_with_links_into_another_project_is_refused(project, other_project):
    stranger = AgentFactory(project=other_project)
    result = OfflineClient().complete(QUESTION)

    with pytest.raises(DomainError, match="belongs to another project"):
        usage_record(completion=result, context=UsageContext(project=project, agent=stranger))

    assert not Metric.objects.exists()
