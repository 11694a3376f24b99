"""The agent step loop, driven through the real SDK against the fake OpenAI server: turns,
redeliveries and retries, the run's lease, and a step's cost in queries."""

import json

import pytest
from django.db import connection

from agents.models import AgentRun, AgentState, AgentStep, DecisionLog, Metric, ToolCall
from agents.runtime.steps import step_execute
from agents.services import runs
from agents.tasks import run_step
from memory.models import MemoryFact
from tests.agents.runtime.driving import drive
from tests.factories import AgentFactory, AgentRunFactory
from tests.fakes.openai_server import completion, rate_limited, tool_call, usage_body

pytestmark = pytest.mark.django_db


def test_multi_turn_tool_use_then_finish(run, task, fake_llm, django_capture_on_commit_callbacks):
    fake_llm.script(
        completion(
            None,
            tool_calls=[
                tool_call("c1", "get_task", {"key": "T1"}),
                tool_call(
                    "c2", "set_state", {"namespace": "notes", "key": "plan", "value": [1, 2]}
                ),
            ],
            usage=usage_body(200, 20, cached=50),
        ),
        completion(
            None,
            tool_calls=[
                tool_call("c3", "log_decision", {"decision": "Use a hand-written parser"}),
                tool_call(
                    "c4",
                    "remember",
                    {"subject": "parser", "learned": "tokens first", "confidence": 0.7},
                ),
            ],
        ),
        completion(None, tool_calls=[tool_call("c5", "finish", {"summary": "Parser written."})]),
    )
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "succeeded" and run.result["summary"] == "Parser written."
    task.refresh_from_db()
    # Without a repository there is nothing to check: the work waits for a reviewer.
    assert task.status == "review" and task.assigned_agent is None
    assert AgentState.objects.get(namespace="notes", key="plan").value == [1, 2]
    assert DecisionLog.objects.get(run=run).decision == "Use a hand-written parser"
    fact = MemoryFact.objects.get()
    assert fact.run == run and fact.tool_call.tool_name == "remember"
    assert ToolCall.objects.filter(run=run, started__isnull=True).count() == 5
    assert ToolCall.objects.filter(run=run, started__isnull=False, status="succeeded").count() == 5
    second_request = fake_llm.requests[1].json["messages"]
    tool_results = [m for m in second_request if m["role"] == "tool"]
    assert json.loads(tool_results[0]["content"])["name"] == "Write the parser"
    assert {t["function"]["name"] for t in fake_llm.requests[0].json["tools"]} >= {
        "get_task",
        "finish",
        "recall",
        "update_task_status",
    }
    assert list(run.steps.values_list("number", "attempts", "status")) == [
        (1, 1, "done"),
        (2, 1, "done"),
        (3, 1, "done"),
    ]
    types = set(Metric.objects.filter(run=run).values_list("type", flat=True))
    assert types == {"token_usage", "latency", "cost", "run_duration", "qa_iterations"}


def test_a_redelivered_step_does_nothing(run, fake_llm, django_capture_on_commit_callbacks):
    fake_llm.script(
        completion(
            None,
            tool_calls=[tool_call("c1", "set_state", {"namespace": "n", "key": "k", "value": 1})],
        )
    )
    with django_capture_on_commit_callbacks():
        step_execute(run_id=run.pk, number=1)
    # What step 2's delivery would have set by now: the late copy of step 1 leaves it.
    AgentRun.objects.filter(pk=run.pk).update(result={"step": 2}, lease_expires_at=None)
    assert step_execute(run_id=run.pk, number=1) is None
    assert len(fake_llm.requests) == 1
    assert ToolCall.objects.filter(run=run).count() == 2
    assert AgentStep.objects.get(run=run, number=1).attempts == 1
    run.refresh_from_db()
    assert (run.result, run.lease_expires_at) == ({"step": 2}, None)


def test_a_retried_step_reuses_the_reply_and_finished_calls(
    run, fake_llm, django_capture_on_commit_callbacks
):
    """A worker died after the model replied and the tools finished, before the step was
    marked done: the retry asks the model nothing and runs no completed tool again."""
    fake_llm.script(
        completion(
            None,
            tool_calls=[
                tool_call("c1", "set_state", {"namespace": "n", "key": "a", "value": 1}),
                tool_call("c2", "set_state", {"namespace": "n", "key": "b", "value": 2}),
            ],
        ),
        completion("done"),
    )
    with django_capture_on_commit_callbacks():
        step_execute(run_id=run.pk, number=1)
    # A redelivery of step 1 that is still marked running (its worker died before the end).
    step = AgentStep.objects.get(run=run, number=1)
    AgentStep.objects.filter(pk=step.pk).update(status="running")
    AgentState.objects.filter(key="b").delete()
    with django_capture_on_commit_callbacks():
        step_execute(run_id=run.pk, number=1)
    assert len(fake_llm.requests) == 1  # the stored reply was reused
    assert AgentStep.objects.get(pk=step.pk).attempts == 2
    assert ToolCall.objects.filter(run=run, started__isnull=True).count() == 2  # no duplicate rows
    assert not AgentState.objects.filter(key="b").exists()  # c2 was complete: not run again
    assert AgentState.objects.filter(key="a").exists()


def test_model_failure_is_retried_then_fails_the_run_which_can_be_retried(
    run, task, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.LLM_MAX_RETRIES = 0
    settings.AGENT_STEP_MAX_RETRIES = 1
    fake_llm.script(rate_limited(retry_after_s=0), rate_limited(retry_after_s=0))
    with django_capture_on_commit_callbacks(execute=True):
        run_step.apply(args=[run.pk, 1])
    run.refresh_from_db()
    assert run.status == "failed" and "step 1" in run.error
    assert AgentStep.objects.get(run=run, number=1).status == "failed"
    task.refresh_from_db()
    assert task.status == "failed"

    with django_capture_on_commit_callbacks() as callbacks:
        runs.run_retry(run=run)
    assert len(callbacks) == 1
    fake_llm.script(completion(None, tool_calls=[tool_call("c1", "finish", {"summary": "ok"})]))
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "succeeded"
    task.refresh_from_db()
    assert task.status == "review"


def test_a_step_that_fails_otherwise_is_retried_then_fails_the_run_with_the_error(
    run, settings, django_capture_on_commit_callbacks
):
    # Not the model: the worker cannot even build its client.
    settings.LLM_PROVIDER = "openai"
    settings.LLM_API_KEY = settings.LLM_BASE_URL = ""
    settings.AGENT_STEP_MAX_RETRIES = 2
    with django_capture_on_commit_callbacks(execute=True):
        run_step.apply(args=[run.pk, 1])
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("step 1: ImproperlyConfigured: LLM_PROVIDER is openai")
    step = AgentStep.objects.get(run=run, number=1)
    assert (step.status, step.attempts) == ("failed", 3)


def test_a_step_whose_worker_keeps_dying_fails_the_run_and_retry_gives_it_fresh_attempts(
    run, task, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.AGENT_STEP_MAX_RETRIES = 2
    # Three deliveries of step 1 began and were never heard of again (killed mid-step).
    AgentStep.objects.create(run=run, number=1, status="running", attempts=3)
    assert step_execute(run_id=run.pk, number=1) is None
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("step 1: 3 deliveries ended without finishing it")
    assert fake_llm.requests == []  # the model was not asked again
    task.refresh_from_db()
    assert task.status == "failed"

    with django_capture_on_commit_callbacks():
        runs.run_retry(run=run)
    fake_llm.script(completion(None, tool_calls=[tool_call("c1", "finish", {"summary": "ok"})]))
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "succeeded"
    # three that died, the one that gave up, and the one after the retry
    assert AgentStep.objects.get(run=run, number=1).attempts == 5


def test_turn_limit_ends_the_run(project, task, fake_llm, django_capture_on_commit_callbacks):
    run = AgentRunFactory(project=project, agent=AgentFactory(project=project), task=task)
    with django_capture_on_commit_callbacks():
        runs.run_start(run=run, max_turns=1)
    fake_llm.script(completion(None, tool_calls=[tool_call("c1", "list_tasks", {})]))
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "failed" and run.error == "turn limit reached"


def test_cancelled_run_does_not_step(run, fake_llm):
    runs.run_cancel(run=run)
    assert step_execute(run_id=run.pk, number=1) is None
    assert fake_llm.requests == []
    assert AgentRun.objects.get(pk=run.pk).status == "cancelled"


def test_a_duplicate_delivery_finishing_second_moves_nothing_on(
    run, fake_llm, django_capture_on_commit_callbacks
):
    """Two deliveries of one step ran side by side: the reply stored first is the one both
    use, and only the delivery that marks the step done enqueues the next step."""
    from agents.runtime.calls import _end_step

    fake_llm.script(completion(None, tool_calls=[tool_call("c1", "list_tasks", {})]))
    with django_capture_on_commit_callbacks() as first:
        step_execute(run_id=run.pk, number=1)
    assert len(first) == 1
    step = AgentStep.objects.get(run=run, number=1)
    with django_capture_on_commit_callbacks() as second:
        _end_step(run, step, None)  # the slower twin reaching the end
    assert second == []


def get_state_reply(call_id):
    return completion(
        None, tool_calls=[tool_call(call_id, "get_state", {"namespace": "n", "key": "k"})]
    )


def test_a_step_costs_the_same_queries_however_long_the_conversation(
    run, fake_llm, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    """The conversation is read with the step's claim (PostgreSQL) or in two queries,
    so step 9 costs what step 2 does."""
    fake_llm.script(*[get_state_reply(f"c{n}") for n in range(1, 10)])
    with django_capture_on_commit_callbacks():
        step_execute(run_id=run.pk, number=1)
    # Counted inside the test's transaction, where each of the step's transactions is a
    # savepoint. On PostgreSQL: the claim of the step, one statement that locks the
    # agent and the run, records the usage, stores the reply and inserts the call's
    # started row, the tool's query (get_state only reads: no savepoint of its own), and
    # one statement for its completion row and the end of the step, in one transaction:
    # 4 statements and 2 savepoint commands, as many as the round trips of a step
    # outside a test (the savepoint of its transaction stands for its BEGIN and
    # COMMIT). On SQLite the claim is three statements in a transaction, the
    # conversation two reads, the lock of the run, the usage and the reply two more.
    limit = 6 if connection.vendor == "postgresql" else 16
    for number in range(2, 10):
        with django_assert_max_num_queries(limit), django_capture_on_commit_callbacks():
            step_execute(run_id=run.pk, number=number)
    assert AgentStep.objects.filter(run=run, status="done").count() == 9


def test_a_step_renews_the_lease_and_records_its_number_in_the_runs_progress(
    run, fake_llm, django_capture_on_commit_callbacks
):
    AgentRun.objects.filter(pk=run.pk).update(
        result={"note": "kept"}, lease_expires_at=None, heartbeat_at=None
    )
    fake_llm.script(get_state_reply("c1"))

    with django_capture_on_commit_callbacks():
        step = step_execute(run_id=run.pk, number=1)

    run.refresh_from_db()
    assert run.result == {"note": "kept", "step": 1}
    assert run.heartbeat_at is not None and run.lease_expires_at > run.heartbeat_at
    step.refresh_from_db()
    assert (step.run_id, step.number, step.attempts, step.status) == (run.pk, 1, 1, "done")


def test_a_run_without_a_task_steps_with_its_own_project_and_agent(
    project, fake_llm, django_capture_on_commit_callbacks
):
    agent = AgentFactory(project=project, name="planner-1", type="planner")
    run = AgentRunFactory(project=project, agent=agent, task=None)
    with django_capture_on_commit_callbacks():
        runs.run_start(run=run, goal="Plan the parser")
    fake_llm.script(get_state_reply("c1"))

    with django_capture_on_commit_callbacks():
        step = step_execute(run_id=run.pk, number=1)

    assert (step.run.project, step.run.agent, step.run.task) == (project, agent, None)
    assert step.run.project.name == project.name  # loaded, not just an id
    started = ToolCall.objects.get(run=run, started__isnull=True)
    assert (started.project_id, started.agent_id, started.task_id) == (project.pk, agent.pk, None)


def test_a_steps_lease_renewal_adds_nothing_to_the_run_tables_indexes(
    run, fake_llm, django_capture_on_commit_callbacks
):
    # The lease is renewed at every step: with the lease in no index, PostgreSQL writes
    # the run's new version beside the old (HOT) instead of into each of its indexes.
    if connection.vendor != "postgresql":
        pytest.skip("heap-only updates are PostgreSQL's")
    fake_llm.script(get_state_reply("c1"))

    def run_updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_stat_get_xact_tuples_updated(%s::regclass), "
                "pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
                [AgentRun._meta.db_table] * 2,
            )
            return cursor.fetchone()

    before = run_updates()
    with django_capture_on_commit_callbacks():
        step_execute(run_id=run.pk, number=1)
    updated, hot = (count - earlier for count, earlier in zip(run_updates(), before, strict=True))

    assert updated >= 1
    assert hot == updated
