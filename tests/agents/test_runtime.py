"""The agent step loop, driven through the real SDK against the fake OpenAI server."""

import json
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, connection

from agents.models import AgentRun, AgentState, AgentStep, DecisionLog, Metric, ToolCall
from agents.runtime.steps import step_execute
from agents.services import runs
from agents.tasks import run_step
from memory.models import MemoryFact
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory
from tests.fakes.openai_server import completion, rate_limited, tool_call, usage_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(project):
    return TaskFactory(project=project, key="T1", name="Write the parser", description="Parse it.")


@pytest.fixture
def run(project, task, django_capture_on_commit_callbacks):
    agent = AgentFactory(project=project, name="coder-1")
    run = AgentRunFactory(project=project, agent=agent, task=task)
    with django_capture_on_commit_callbacks() as callbacks:
        runs.run_start(run=run)
    assert len(callbacks) == 1  # step 1 is enqueued once the start commits
    run.refresh_from_db()
    return run


def drive(run, django_capture_on_commit_callbacks, *, limit=10):
    """Run steps in this process, in order, until the run stops (what workers would do)."""
    number = 1
    while number <= limit:
        with django_capture_on_commit_callbacks() as callbacks:
            step_execute(run_id=run.pk, number=number)
        run.refresh_from_db()
        if run.status != "running" or not callbacks:
            return run
        number += 1
    raise AssertionError("the run did not stop")


def test_repeated_empty_and_overlong_call_ids_each_run_under_an_id_of_their_own(
    run, fake_llm, django_capture_on_commit_callbacks
):
    fake_llm.script(
        completion(
            None,
            tool_calls=[
                tool_call("same", "set_state", {"namespace": "n", "key": "a", "value": 1}),
                tool_call("same", "set_state", {"namespace": "n", "key": "b", "value": 2}),
                tool_call("x" * 150, "set_state", {"namespace": "n", "key": "c", "value": 3}),
                tool_call("", "set_state", {"namespace": "n", "key": "d", "value": 4}),
                tool_call("call_1", "get_task", {"key": "T1"}),
            ],
        ),
        completion(None, tool_calls=[tool_call("f", "finish", {"summary": "Done."})]),
    )
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "succeeded"
    assert dict(AgentState.objects.values_list("key", "value")) == {"a": 1, "b": 2, "c": 3, "d": 4}
    ids = ["same", "call_1_", "call_2", "call_3", "call_1"]
    started = ToolCall.objects.filter(run=run, step=1, started__isnull=True).order_by("id")
    assert list(started.values_list("call_id", flat=True)) == ids
    assert ToolCall.objects.filter(started__in=started, status="succeeded").count() == 5
    # The model is told of each call under the id the log keeps.
    later_turn = fake_llm.requests[1].json["messages"]
    [reply] = [m for m in later_turn if m["role"] == "assistant"]
    assert [call["id"] for call in reply["tool_calls"]] == ids
    assert [m["tool_call_id"] for m in later_turn if m["role"] == "tool"] == ids


def test_nul_characters_from_the_model_neither_crash_the_step_nor_reach_the_database(
    run, fake_llm, django_capture_on_commit_callbacks
):
    fake_llm.script(
        completion(
            "thinking\u0000",
            tool_calls=[
                tool_call("c1", "set_state", {"namespace": "n", "key": "k", "value": "a\u0000"}),
                tool_call("c2\u0000", "get_task\u0000", {"key": "T1"}),
            ],
        ),
        completion(None, tool_calls=[tool_call("c3", "finish", {"summary": "Done."})]),
    )
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "succeeded"
    assert AgentStep.objects.get(run=run, number=1).reply["content"] == "thinking\ufffd"
    refused = ToolCall.objects.get(started__run=run, started__call_id="c1")
    assert refused.status == "failed" and "NUL character" in refused.error
    assert not AgentState.objects.exists()
    unknown = ToolCall.objects.get(started__run=run, started__call_id="c2\ufffd")
    assert unknown.tool_name == "get_task\ufffd" and "there is no tool" in unknown.error


def test_raw_nul_in_arguments_and_in_a_tools_output_are_stored_safely(
    run, fake_llm, django_capture_on_commit_callbacks
):
    """A raw NUL inside the arguments text (JSON escapes on the wire decode to one), and
    one in what a tool returns or raises, must not fail the step on PostgreSQL."""
    from tests.agent_tools import temporary_tool

    def noisy(context, args):
        if args.get("fail"):
            raise RuntimeError("broke\u0000here")
        return {"out\u0000": ["x\u0000"]}

    raw = '{"namespace": "n", "key": "k", "value": "a\u0000"}'
    fake_llm.script(
        completion(
            None,
            tool_calls=[
                tool_call("c1", "set_state", raw),
                tool_call("c2", "noisy_test", {}),
                tool_call("c3", "noisy_test", {"fail": True}),
            ],
        ),
        completion(None, tool_calls=[tool_call("c4", "finish", {"summary": "Done."})]),
    )
    with temporary_tool("noisy_test", risk="low", handler=noisy):
        run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "succeeded", run.error
    refused = ToolCall.objects.get(started__run=run, started__call_id="c1")
    assert refused.status == "failed" and "NUL character" in refused.error
    assert not AgentState.objects.exists()
    output = ToolCall.objects.get(started__run=run, started__call_id="c2").output
    assert output == {"out\ufffd": ["x\ufffd"]}
    failed = ToolCall.objects.get(started__run=run, started__call_id="c3")
    assert failed.error == "RuntimeError: broke\ufffdhere"


@contextmanager
def refused_inserts(table: str, condition: str):
    """A trigger that fails every INSERT into `table` whose new row meets `condition`."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER test_refuse BEFORE INSERT ON {table} WHEN {condition} "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION test_refuse() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER test_refuse BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN ({condition}) EXECUTE FUNCTION test_refuse()"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            on_table = f" ON {table}" if connection.vendor == "postgresql" else ""
            cursor.execute(f"DROP TRIGGER test_refuse{on_table}")
            if connection.vendor == "postgresql":
                cursor.execute("DROP FUNCTION test_refuse()")


def test_a_reply_that_cannot_be_stored_still_has_its_usage_recorded(run, fake_llm):
    fake_llm.script(
        completion(
            None, tool_calls=[tool_call("c1", "get_task", {"key": "T1"})], usage=usage_body(90, 9)
        )
    )
    with (
        refused_inserts("agents_toolcall", "NEW.tool_name = 'get_task'"),
        pytest.raises(DatabaseError, match="refused by the test"),
    ):
        step_execute(run_id=run.pk, number=1)
    assert AgentStep.objects.get(run=run, number=1).reply is None
    assert not ToolCall.objects.filter(run=run).exists()
    usage = Metric.objects.get(run=run, type="token_usage")
    assert (usage.value, usage.metadata["input_tokens"]) == (99, 90)
    # Recorded with its step, so that the run's trace shows what each step cost.
    assert usage.metadata["step"] == 1
    assert Metric.objects.get(run=run, type="cost").metadata["step"] == 1


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


def test_bad_arguments_go_back_to_the_model_as_errors(
    run, fake_llm, django_capture_on_commit_callbacks
):
    fake_llm.script(
        completion(
            None,
            tool_calls=[
                tool_call("c1", "set_state", "{not json"),
                tool_call("c2", "set_state", {"namespace": "n"}),
                tool_call("c3", "rm_rf", {}),
            ],
        ),
        completion("All done."),
    )
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "succeeded"
    failed = {
        c.started.call_id: c.error
        for c in ToolCall.objects.filter(run=run, status="failed").select_related("started")
    }
    assert "not valid JSON" in failed["c1"]
    assert "'key' is a required property" in failed["c2"]
    assert "there is no tool 'rm_rf'" in failed["c3"]
    started = ToolCall.objects.get(run=run, call_id="c1", started__isnull=True)
    assert started.input == {"raw_arguments": "{not json"}
    messages = fake_llm.requests[1].json["messages"]
    assert [m["content"][:6] for m in messages if m["role"] == "tool"] == ["error:"] * 3
    assert not AgentState.objects.exists()


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


def test_a_call_started_but_not_completed_runs_once_on_retry(
    run, fake_llm, django_capture_on_commit_callbacks
):
    """A worker died while a tool ran: its "started" row committed, the tool's work and
    completion did not. The retry runs that call once, under the same started row."""
    from agents.llm import ChatMessage, ToolCallRequest
    from agents.services import tool_call_start

    arguments = json.dumps({"decision": "Parse tokens first"})  # each run logs a row
    reply = ChatMessage.assistant(tool_calls=[ToolCallRequest("c1", "log_decision", arguments)])
    step = AgentStep.objects.create(run=run, number=1, attempts=1, reply=reply.to_openai())
    started = tool_call_start(
        project=run.project, run=run, step=1, call_id="c1", tool_name="log_decision"
    )
    with django_capture_on_commit_callbacks():
        step_execute(run_id=run.pk, number=1)
    assert fake_llm.requests == []  # the stored reply is replayed
    assert ToolCall.objects.filter(run=run, started__isnull=True).get() == started
    assert ToolCall.objects.get(started=started).status == "succeeded"
    assert DecisionLog.objects.get(run=run).decision == "Parse tokens first"
    step.refresh_from_db()
    assert (step.status, step.attempts) == ("done", 2)
    with django_capture_on_commit_callbacks():
        assert step_execute(run_id=run.pk, number=1) is None  # done: a redelivery is a no-op
    assert DecisionLog.objects.filter(run=run).count() == 1


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
    # agent and the run, records the usage and stores the reply, the call's started
    # row, the tool's query in a savepoint of its own, its completion row and the end of
    # the step, in one transaction: 6 statements and 4 savepoint commands, as many as
    # the round trips of a step outside a test (the savepoint of its transaction stands
    # for its BEGIN and COMMIT). On SQLite the claim is three statements in a
    # transaction, the conversation two reads, the lock of the run, the usage and the
    # reply two more.
    limit = 10 if connection.vendor == "postgresql" else 18
    for number in range(2, 10):
        with django_assert_max_num_queries(limit), django_capture_on_commit_callbacks():
            step_execute(run_id=run.pk, number=number)
    assert AgentStep.objects.filter(run=run, status="done").count() == 9


@pytest.fixture
def risky_tool(project):
    """A medium-risk tool, enabled in `project`: its effects would leave the database."""
    from tests.agent_tools import temporary_tool

    with temporary_tool("risky_test", risk="medium", handler=lambda context, args: {"done": 1}):
        project.enabled_tools = ["risky_test"]
        project.save(update_fields=["enabled_tools"])
        yield


def _step_transactions(queries) -> list[str]:
    """The SQL of each transaction a step ran; inside a test's transaction each is a
    savepoint (nested ones, around tool handlers, stay part of theirs)."""
    blocks: list[list[str]] = []
    depth = 0
    for sql in (query["sql"] for query in queries):
        if sql.startswith("SAVEPOINT"):
            depth += 1
            if depth == 1:
                blocks.append([])
        if depth:
            blocks[-1].append(sql)
        if sql.startswith(("RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            depth -= 1
    return ["\n".join(block) for block in blocks]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
def test_a_risky_tools_started_row_waits_for_the_disk(
    run, fake_llm, risky_tool, django_capture_on_commit_callbacks
):
    """A tool above low risk acts outside the database, so the transaction holding its
    "started" row commits synchronously; a low-risk one's need not."""
    from django.test.utils import CaptureQueriesContext

    def started_row_transaction(blocks: list[str], call_id: str) -> str:
        marker = f"'{call_id}'"
        (block,) = [b for b in blocks if 'INSERT INTO "agents_toolcall"' in b and marker in b]
        return block

    fake_llm.script(
        completion(
            None,
            tool_calls=[
                tool_call("c1", "get_state", {"namespace": "n", "key": "k"}),
                tool_call("c2", "risky_test", {}),
            ],
        ),
        completion(None, tool_calls=[tool_call("c3", "risky_test", {})]),
    )
    steps = []
    for number in (1, 2):
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks():
            step_execute(run_id=run.pk, number=number)
        steps.append(_step_transactions(queries.captured_queries))

    no_flush_wait = "SET LOCAL synchronous_commit TO OFF"
    assert no_flush_wait in started_row_transaction(steps[0], "c1")  # with the reply
    assert no_flush_wait not in started_row_transaction(steps[0], "c2")
    assert no_flush_wait not in started_row_transaction(steps[1], "c3")  # with the reply
    assert ToolCall.objects.filter(run=run, status="succeeded").count() == 3


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


class WorkerKilled(BaseException):
    """Stands for the worker dying mid-call: nothing after it in the delivery runs."""


def test_a_risky_call_cut_short_is_reported_as_interrupted_and_never_run_again(
    run, project, fake_llm, django_capture_on_commit_callbacks
):
    from tests.agent_tools import temporary_tool

    calls = []

    def handler(context, args):
        calls.append(args)
        raise WorkerKilled

    fake_llm.script(
        completion(None, tool_calls=[tool_call("c1", "risky_test", {"n": 1})]),
        completion(None, tool_calls=[tool_call("c2", "finish", {"summary": "checked"})]),
    )
    with temporary_tool("risky_test", risk="high", handler=handler):
        project.enabled_tools = ["risky_test"]
        project.save(update_fields=["enabled_tools"])
        with pytest.raises(WorkerKilled):
            step_execute(run_id=run.pk, number=1)
        assert ToolCall.objects.filter(run=run, call_id="c1").count() == 1  # started only
        run = drive(run, django_capture_on_commit_callbacks)

    assert calls == [{"n": 1}]  # the redelivered step did not run it again
    ended = ToolCall.objects.get(run=run, started__call_id="c1")
    assert ended.status == "failed" and ended.error.startswith("interrupted")
    told = fake_llm.requests[-1].json["messages"][-1]
    assert told["role"] == "tool" and "interrupted" in told["content"]
    assert run.status == "succeeded"


def test_a_low_risk_call_cut_short_leaves_nothing_and_the_retry_asks_the_model_again(
    run, fake_llm, django_capture_on_commit_callbacks
):
    """A reply whose calls stay in the database commits with them: a worker killed while
    such a call runs rolls the reply, the call's rows and its effects back together."""
    from tests.agent_tools import temporary_tool

    calls = []

    def handler(context, args):
        calls.append(args)
        if len(calls) == 1:
            raise WorkerKilled
        return {"ok": True}

    fake_llm.script(
        completion(None, tool_calls=[tool_call("c1", "safe_test", {"n": 1})]),
        completion(None, tool_calls=[tool_call("c1", "safe_test", {"n": 2})]),
        completion(None, tool_calls=[tool_call("c2", "finish", {"summary": "done"})]),
    )
    with temporary_tool("safe_test", risk="low", handler=handler):
        with pytest.raises(WorkerKilled):
            step_execute(run_id=run.pk, number=1)
        assert AgentStep.objects.get(run=run, number=1).reply is None
        assert not ToolCall.objects.filter(run=run).exists()
        assert not Metric.objects.filter(run=run).exists()
        run = drive(run, django_capture_on_commit_callbacks)
    assert calls == [{"n": 1}, {"n": 2}]
    assert len(fake_llm.requests) == 3
    assert ToolCall.objects.get(run=run, started__call_id="c1").status == "succeeded"
    assert ToolCall.objects.get(run=run, call_id="c1").input == {"n": 2}
    assert run.status == "succeeded"
