"""Coding CLIs' output read as neutral events: messages, tool calls, usage, outcome."""

import json

import pytest

from agents.workspaces.stream_events import (
    ENDED_EARLY,
    MAX_LINE_CHARS,
    Message,
    Outcome,
    PlainLine,
    TokenUsage,
    ToolFinished,
    ToolStarted,
)
from agents.workspaces.streams import StreamReader, stream_parser


def _lines(*objects: object) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects)


CLAUDE = _lines(
    {"type": "system", "subtype": "init", "session_id": "s1", "model": "claude-sonnet-4-5"},
    {
        "type": "assistant",
        "message": {
            "id": "msg_1",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "I'll add the greeting."}],
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5},
        },
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_1",
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "Write",
                    "input": {"file_path": "hello.txt", "content": "hi\n"},
                }
            ],
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5},
        },
    },
    "npm WARN something printed to stdout",
    {
        "type": "user",
        "message": {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "File created"}],
                }
            ],
        },
    },
    {
        "type": "assistant",
        "message": {
            "id": "msg_2",
            "content": [{"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {}}],
        },
    },
    {
        "type": "user",
        "message": {
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": "boom",
                    "is_error": True,
                }
            ]
        },
    },
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": "Added hello.txt",
        "total_cost_usd": 0.0123,
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 30,
            "cache_read_input_tokens": 150,
            "output_tokens": 12,
        },
    },
)

CODEX = _lines(
    {"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Plan**"}},
    {
        "type": "item.started",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "bash -lc ls",
            "aggregated_output": "",
            "exit_code": None,
            "status": "in_progress",
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "bash -lc ls",
            "aggregated_output": "README.md\n",
            "exit_code": 0,
            "status": "completed",
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_2",
            "type": "file_change",
            "changes": [{"path": "hello.txt", "kind": "add"}],
            "status": "completed",
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_3",
            "type": "command_execution",
            "command": "false",
            "aggregated_output": "",
            "exit_code": 1,
            "status": "failed",
        },
    },
    {"type": "item.completed", "item": {"id": "item_4", "type": "agent_message", "text": "Done."}},
    {
        "type": "turn.completed",
        "usage": {"input_tokens": 1200, "cached_input_tokens": 200, "output_tokens": 345},
    },
)


def _read(format: str, text: str, *, piece: int | None = None) -> tuple[list[object], object]:
    reader = StreamReader(stream_parser(format))
    events: list[object] = []
    if piece is None:
        events += reader.feed(text)
    else:
        for start in range(0, len(text), piece):
            events += reader.feed(text[start : start + piece])
    events += reader.close()
    return events, reader.parser


def test_claude_stream_becomes_messages_tool_calls_usage_and_outcome():
    events, parser = _read("claude", CLAUDE)
    assert events == [
        Message("I'll add the greeting."),
        ToolStarted("toolu_1", "Write", {"file_path": "hello.txt", "content": "hi\n"}),
        PlainLine("npm WARN something printed to stdout"),
        ToolFinished(
            "toolu_1",
            "Write",
            {"file_path": "hello.txt", "content": "hi\n"},
            "File created",
            True,
        ),
        ToolStarted("toolu_2", "Bash", {}),
        ToolFinished("toolu_2", "Bash", {}, "boom", False, "boom"),
        # Cache reads and writes count as input; usage comes once, from the result.
        TokenUsage(200, 12, 150, model="claude-sonnet-4-5", cost_usd=0.0123),
        Outcome("Added hello.txt", is_error=False),
    ]
    assert (parser.json_lines, parser.plain_lines) == (7, 1)


def test_codex_stream_becomes_messages_tool_calls_and_usage():
    events, _ = _read("codex", CODEX)
    assert events == [
        Message("**Plan**", "reasoning"),
        ToolStarted("item_1", "shell", {"command": "bash -lc ls"}),
        ToolFinished(
            "item_1",
            "shell",
            {"command": "bash -lc ls"},
            {"exit_code": 0, "output": "README.md\n"},
            True,
        ),
        # Codex reports an edit only once it is applied: its start comes with its end.
        ToolStarted("item_2", "apply_patch", {"changes": [{"path": "hello.txt", "kind": "add"}]}),
        ToolFinished(
            "item_2", "apply_patch", {"changes": [{"path": "hello.txt", "kind": "add"}]}, None, True
        ),
        ToolStarted("item_3", "shell", {"command": "false"}),
        ToolFinished(
            "item_3",
            "shell",
            {"command": "false"},
            {"exit_code": 1, "output": ""},
            False,
            "exit code 1",
        ),
        Message("Done."),
        TokenUsage(1200, 345, 200),
    ]


@pytest.mark.parametrize("format,text", [("claude", CLAUDE), ("codex", CODEX)])
def test_lines_split_across_pieces_read_the_same(format, text):
    whole, _ = _read(format, text)
    assert _read(format, text, piece=7)[0] == whole


def test_codex_failures_and_mcp_calls():
    events, _ = _read(
        "codex",
        _lines(
            {
                "type": "item.completed",
                "item": {
                    "id": "item_0",
                    "type": "mcp_tool_call",
                    "server": "crewboard",
                    "tool": "get_task",
                    "arguments": {"key": "T-1"},
                    "result": None,
                    "error": {"message": "no such task"},
                    "status": "failed",
                },
            },
            {"type": "error", "message": "Reconnecting... 1/5"},
            {"type": "turn.failed", "error": {"message": "stream disconnected"}},
        ),
    )
    assert events == [
        ToolStarted("item_0", "mcp:crewboard/get_task", {"key": "T-1"}),
        ToolFinished(
            "item_0", "mcp:crewboard/get_task", {"key": "T-1"}, None, False, "no such task"
        ),
        Message("Reconnecting... 1/5", "error"),
        Outcome("stream disconnected", is_error=True),
    ]


def test_a_killed_cli_leaves_its_open_calls_failed_and_its_usage_so_far():
    cut = CLAUDE.splitlines()[:3]  # init, a message, a tool_use; no result
    events, _ = _read("claude", "\n".join(cut))
    assert events[-2:] == [
        ToolFinished(
            "toolu_1",
            "Write",
            {"file_path": "hello.txt", "content": "hi\n"},
            None,
            False,
            ENDED_EARLY,
        ),
        # msg_1's usage repeated on its two lines counts once.
        TokenUsage(100, 5, 90, model="claude-sonnet-4-5"),
    ]


def test_claude_error_result_is_an_error_outcome():
    events, _ = _read(
        "claude",
        _lines({"type": "result", "subtype": "error_max_turns", "is_error": True}),
    )
    assert events == [Outcome("error_max_turns", is_error=True)]


def test_garbage_and_other_json_stay_plain_lines():
    text = 'Traceback (most recent call last):\n{"not": "an event"}\n[1, 2]\n{broken\n\n'
    events, parser = _read("codex", text)
    assert events == [
        PlainLine("Traceback (most recent call last):"),
        PlainLine('{"not": "an event"}'),
        PlainLine("[1, 2]"),
        PlainLine("{broken"),
    ]
    assert (parser.json_lines, parser.plain_lines) == (0, 4)


def test_last_line_without_newline_is_read_on_close():
    reader = StreamReader(stream_parser("codex"))
    assert reader.feed('{"type": "error", "message": "late"}') == []
    assert reader.close() == [Message("late", "error")]


def test_auto_picks_the_format_from_the_first_event():
    events, parser = _read("auto", "starting my wrapper\n" + CODEX)
    assert events[0] == PlainLine("starting my wrapper")
    assert events[1:] == _read("codex", CODEX)[0]
    assert (parser.json_lines, parser.plain_lines) == (9, 1)
    claude_events, _ = _read("auto", CLAUDE)
    assert claude_events == _read("claude", CLAUDE)[0]


def test_text_format_reads_every_line_as_plain():
    events, parser = _read("text", "Applied edit to hello.txt\n" + CODEX)
    assert all(isinstance(event, PlainLine) for event in events)
    assert parser.json_lines == 0


def test_an_overlong_line_is_not_parsed():
    reader = StreamReader(stream_parser("codex"))
    events = reader.feed("x" * (MAX_LINE_CHARS + 10))
    events += reader.feed("tail\n" + _lines({"type": "error", "message": "after"}))
    assert events[-1] == Message("after", "error")
    assert reader.parser.plain_lines == 2  # the dropped line and the rest of it


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown stream format 'xml'"):
        stream_parser("xml")
