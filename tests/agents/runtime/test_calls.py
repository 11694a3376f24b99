"""A step's tool calls, through the real SDK against the fake OpenAI server: bad arguments
go back to the model, and a call runs once, whatever the worker does meanwhile."""

import json

import pytest
from django.db import DatabaseError, connection

from agents.models import AgentState, AgentStep, DecisionLog, Metric, ToolCall
from agents.runtime.steps import step_execute
from tests.agents.runtime.driving import drive
from tests.fakes.openai_server import completion, tool_call

pytestmark = pytest.mark.django_db


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


def _failing_read(context, args):
    """A read whose statement the database refuses."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")


def test_a_database_error_in_a_tool_that_writes_goes_back_to_the_model(
    run, fake_llm, django_capture_on_commit_callbacks
):
    """Its savepoint undoes its work, and the step goes on."""
    from tests.agent_tools import temporary_tool

    fake_llm.script(completion(None, tool_calls=[tool_call("c1", "broken_test", {})]))
    with (
        temporary_tool("broken_test", risk="low", handler=_failing_read),
        django_capture_on_commit_callbacks(),
    ):
        step_execute(run_id=run.pk, number=1)
    ended = ToolCall.objects.get(run=run, started__call_id="c1")
    assert ended.status == "failed" and "no_such_table" in ended.error
    assert AgentStep.objects.get(run=run, number=1).status == "done"


def test_a_database_error_in_a_tool_that_only_reads_fails_the_delivery_leaving_nothing(
    run, fake_llm, django_capture_on_commit_callbacks
):
    """Such a tool runs without a savepoint of its own: the transaction cannot go on, so
    the reply and the call's rows roll back together (the model call's usage is kept:
    it was paid for), and the retry asks the model again."""
    from tests.agent_tools import temporary_tool

    fake_llm.script(
        completion(None, tool_calls=[tool_call("c1", "reader_test", {})]),
        completion(None, tool_calls=[tool_call("c2", "finish", {"summary": "done"})]),
    )
    with (
        temporary_tool("reader_test", risk="low", handler=_failing_read, reads_only=True),
        pytest.raises(DatabaseError),
    ):
        step_execute(run_id=run.pk, number=1)
    assert AgentStep.objects.get(run=run, number=1).reply is None
    assert not ToolCall.objects.filter(run=run).exists()
    assert Metric.objects.filter(run=run, type="token_usage").count() == 1
    run = drive(run, django_capture_on_commit_callbacks)
    assert run.status == "succeeded"
    assert len(fake_llm.requests) == 2
