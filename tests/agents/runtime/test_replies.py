"""The model's reply to a step, through the real SDK against the fake OpenAI server: the
ids and characters it is stored with, and its usage kept when it cannot be."""

from contextlib import contextmanager

import pytest
from django.db import DatabaseError, connection

from agents.models import AgentState, AgentStep, Metric, ToolCall
from agents.runtime.steps import step_execute
from tests.agents.runtime.driving import drive
from tests.fakes.openai_server import completion, tool_call, usage_body

pytestmark = pytest.mark.django_db


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
