"""A coding CLI's output taken into a run: its log, and its events in the audit trail,
a piece of output at a time."""

import json

import pytest
from django.db import connection

from agents.models import DecisionLog, Metric, RunLogChunk, ToolCall
from agents.services.executor_ingest import EventIngest
from agents.services.run_logs import RunLogWriter
from tests.factories import AgentRunFactory, TaskFactory

pytestmark = pytest.mark.django_db


def line(obj: object) -> str:
    return json.dumps(obj) + "\n"


def claude_turn(number: int, *, output: str = "ok", name: str = "Bash") -> str:
    """An assistant message with a Bash call, and the call's result."""
    call = f"toolu_{number}"
    return line(
        {
            "type": "assistant",
            "message": {
                "id": f"msg_{number}",
                "model": "claude-test",
                "content": [
                    {"type": "text", "text": f"Step {number}."},
                    {"type": "tool_use", "id": call, "name": name, "input": {"n": number}},
                ],
            },
        }
    ) + line(
        {
            "type": "user",
            "message": {
                "content": [{"type": "tool_result", "tool_use_id": call, "content": output}]
            },
        }
    )


RESULT = line(
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": "done",
        "usage": {"input_tokens": 10, "output_tokens": 2},
    }
)


def pieces(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)]


def ingest_all(run, parts: list[str], *, log: RunLogWriter | None = None) -> EventIngest:
    ingest = EventIngest(run=run, provider="claude-code", format="claude", log=log)
    for number, part in enumerate(parts):
        ingest.feed(part, elapsed_ms=number * 10)
    ingest.close(elapsed_ms=len(parts) * 10)
    return ingest


def calls_by_id(run) -> dict[str, ToolCall]:
    started = ToolCall.objects.filter(run=run, started__isnull=True).select_related("completion")
    return {call.call_id: call for call in started}


def log_text(run) -> str:
    chunks = RunLogChunk.objects.filter(run=run).order_by("seq")
    return "".join(chunks.values_list("text", flat=True))


def test_a_large_logs_calls_land_once_each_with_their_completion_and_its_log_whole():
    task = TaskFactory()
    run = AgentRunFactory(project=task.project, agent__project=task.project, task=task)
    output = "line of test output\n" * 200
    text = "".join(claude_turn(n, output=output) for n in range(1, 1001)) + RESULT
    with RunLogWriter(run.pk) as log:
        ingest = ingest_all(run, pieces(text, 64 * 1024), log=log)
    assert (ingest.dropped, ingest.summary) == (0, "done")
    calls = calls_by_id(run)
    assert sorted(calls) == sorted(f"toolu_{n}" for n in range(1, 1001))
    assert ToolCall.objects.filter(run=run).count() == 2000  # a completion each, no more
    for call in calls.values():
        assert call.input == {"n": int(call.call_id.removeprefix("toolu_"))}
        assert (call.tool_name, call.task_id, call.agent_id) == ("Bash", task.pk, run.agent_id)
        completion = call.completion
        assert (completion.status, completion.output, completion.error) == ("succeeded", output, "")
        assert completion.tool_name == "Bash" and completion.duration_ms >= 0
        assert completion.id > call.id and completion.run_id == run.pk
    assert DecisionLog.objects.filter(run=run).count() == 1000
    assert Metric.objects.get(run=run, type=Metric.Type.TOKEN_USAGE).value == 12
    assert log_text(run) == text


@pytest.mark.parametrize("turns", [2, 40])
def test_a_piece_costs_the_same_few_queries_however_many_calls_it_holds(
    turns, django_assert_max_num_queries
):
    run = AgentRunFactory()
    ingest = EventIngest(run=run, provider="claude-code", format="claude")
    for piece in range(3):
        text = "".join(claude_turn(piece * 100 + n) for n in range(turns))
        # A savepoint, the started rows, the completions, the decisions, its release.
        with django_assert_max_num_queries(5):
            ingest.feed(text, elapsed_ms=piece)
    assert ToolCall.objects.filter(run=run).count() == 2 * 3 * turns


def test_a_piece_and_its_rows_are_written_with_the_log_in_one_go(
    django_assert_max_num_queries,
):
    run = AgentRunFactory()
    with RunLogWriter(run.pk, chunk_chars=10) as log:
        ingest = EventIngest(run=run, provider="claude-code", format="claude", log=log)
        with django_assert_max_num_queries(6):  # the piece's chunk joins the rows
            ingest.feed(claude_turn(1) + claude_turn(2), elapsed_ms=1)
    assert log_text(run) == claude_turn(1) + claude_turn(2)
    assert len(calls_by_id(run)) == 2


def test_one_piece_holding_more_than_a_batch_lands_whole():
    run = AgentRunFactory()
    text = "".join(claude_turn(n) for n in range(1, 401)) + RESULT  # 1,200 events
    ingest = ingest_all(run, [text])
    assert sorted(calls_by_id(run)) == sorted(f"toolu_{n}" for n in range(1, 401))
    assert ToolCall.objects.filter(run=run, started__isnull=False).count() == 400
    assert (ingest.dropped, ingest.summary) == (0, "done")


def test_calls_cut_anywhere_between_pieces_land_once():
    text = claude_turn(1, output="first") + claude_turn(2, output="second") + RESULT
    for cut in range(1, len(text), 23):
        run = AgentRunFactory()
        ingest = ingest_all(run, [text[:cut], text[cut:]])
        calls = calls_by_id(run)
        assert sorted(calls) == ["toolu_1", "toolu_2"], cut
        assert [calls[c].completion.output for c in ("toolu_1", "toolu_2")] == ["first", "second"]
        assert (ingest.summary, ingest.dropped) == ("done", 0)


def test_a_call_that_cannot_be_stored_is_counted_and_the_rest_of_its_piece_lands():
    # A lone surrogate (a JavaScript string cut mid-character) has no UTF-8 form, and
    # PostgreSQL's jsonb refuses it in JSON too; SQLite stores JSON as it is.
    text = claude_turn(1) + claude_turn(2, name="Bash\ud800")
    text += claude_turn(3, output="\ud800 cut") + claude_turn(4)
    run = AgentRunFactory()
    with RunLogWriter(run.pk) as log:
        ingest = ingest_all(run, [text], log=log)
    calls = calls_by_id(run)
    assert sorted(calls) == ["toolu_1", "toolu_3", "toolu_4"]  # call 2 never started
    assert [calls[c].completion.output for c in ("toolu_1", "toolu_4")] == ["ok", "ok"]
    if connection.vendor == "postgresql":
        assert not hasattr(calls["toolu_3"], "completion")
        assert ingest.dropped == 2 and ToolCall.objects.filter(run=run).count() == 5
    else:
        assert calls["toolu_3"].completion.output == "\ud800 cut"
        assert ingest.dropped == 1 and ToolCall.objects.filter(run=run).count() == 6
    assert DecisionLog.objects.filter(run=run).count() == 4
    assert log_text(run) == text  # the log has it all, whatever the audit trail could keep


def test_a_call_still_open_when_the_cli_ends_is_closed_as_failed():
    run = AgentRunFactory()
    opening = claude_turn(1).splitlines(keepends=True)[0]  # the call, never its result
    ingest = ingest_all(run, [opening])
    completion = calls_by_id(run)["toolu_1"].completion
    assert (completion.status, completion.error) == (
        "failed",
        "the CLI ended before the call finished",
    )
    assert ingest.dropped == 0
