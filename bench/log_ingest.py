"""How fast a coding CLI's output is taken in. Prints one JSON object.

`log_ingest_mb_per_s`: a 10 MB Claude Code stream-json log (messages, tool calls whose
results are a few KB each, usage, the result) fed in 64 KB pieces, as the command runner
passes a CLI's output on, through what a coding run does with it: the run's log chunks
(RunLogWriter) and the audit trail (tool call rows, decisions, usage metrics). MB are
10^6 bytes of the log as printed.

`log_floor_mb_per_s`: the same log through the run's log chunks alone (RunLogWriter, no
events), in the same run: what taking the log in costs at the least, so that
`log_ingest_floor_ratio` says how much the audit trail adds. Each is the median of
BENCH_LOG_ROUNDS (3) rounds, which alternate which of the two goes first.

Runs against a throwaway database created next to the configured one:

    .venv/bin/python bench/log_ingest.py                 # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/log_ingest.py
"""

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

from agents.models import AgentRun, RunLogChunk, ToolCall  # noqa: E402
from agents.services import agent_create, runs  # noqa: E402
from agents.services.executor_ingest import EventIngest  # noqa: E402
from agents.services.run_logs import RunLogWriter  # noqa: E402
from planning import services as planning_services  # noqa: E402

LOG_BYTES = 10 * 1000 * 1000
PIECE_BYTES = 64 * 1024
RESULT_BYTES = 4000  # a tool's output, as Claude Code prints it back
ROUNDS = int(os.environ.get("BENCH_LOG_ROUNDS", "3"))


def claude_log(size: int = LOG_BYTES) -> str:
    """A stream-json log of about `size` bytes: turns of a message, a Bash call and its
    result, closed by the session's result."""
    lines = [json.dumps({"type": "system", "subtype": "init", "model": "claude-bench"})]
    total, turn = len(lines[0]) + 1, 0
    output = ("line of test output " * (RESULT_BYTES // 20))[:RESULT_BYTES]
    while total < size:
        turn += 1
        call = f"toolu_{turn:06d}"
        for line in (
            {
                "type": "assistant",
                "message": {
                    "id": f"msg_{turn}",
                    "model": "claude-bench",
                    "content": [
                        {"type": "text", "text": f"Step {turn}: running the tests again."},
                        {
                            "type": "tool_use",
                            "id": call,
                            "name": "Bash",
                            "input": {"command": f"pytest -q tests/test_{turn}.py"},
                        },
                    ],
                    "usage": {"input_tokens": 900, "output_tokens": 40},
                },
            },
            {
                "type": "user",
                "message": {
                    "content": [{"type": "tool_result", "tool_use_id": call, "content": output}]
                },
            },
        ):
            text = json.dumps(line)
            lines.append(text)
            total += len(text) + 1
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": "done",
        "usage": {"input_tokens": 900 * turn, "output_tokens": 40 * turn},
    }
    lines.append(json.dumps(result))
    return "\n".join(lines) + "\n"


def _pieces(log: str) -> list[str]:
    data = log.encode()
    return [
        data[offset : offset + PIECE_BYTES].decode("utf-8", errors="replace")
        for offset in range(0, len(data), PIECE_BYTES)
    ]


def log_ingest_mb_per_s(*, run: AgentRun, log: str) -> float:
    """Feed `log` through the run's log writer and the audit trail; MB/s of the log."""
    pieces = _pieces(log)
    started = time.perf_counter()
    with RunLogWriter(run.pk) as writer:
        ingest = EventIngest(run=run, provider="claude-code", format="claude", log=writer)
        for text in pieces:  # to the log, and its events to the audit trail
            ingest.feed(text, elapsed_ms=(time.perf_counter() - started) * 1000)
        ingest.close(elapsed_ms=(time.perf_counter() - started) * 1000)
    seconds = time.perf_counter() - started
    assert ingest.dropped == 0 and ingest.summary == "done"
    return len(log.encode()) / 1e6 / seconds


def log_floor_mb_per_s(*, run: AgentRun, log: str) -> float:
    """Feed `log` through the run's log writer alone; MB/s of the log."""
    pieces = _pieces(log)
    started = time.perf_counter()
    with RunLogWriter(run.pk) as writer:
        for text in pieces:
            writer.write("stdout", text)
    seconds = time.perf_counter() - started
    return len(log.encode()) / 1e6 / seconds


def _logged(run: AgentRun) -> str:
    return "".join(
        RunLogChunk.objects.filter(run=run).order_by("seq").values_list("text", flat=True)
    )


def measure() -> dict[str, object]:
    """Both rates on the configured (throwaway) database: the medians of ROUNDS rounds,
    which alternate whether the ingest or the floor goes first."""
    owner = get_user_model().objects.create_user("bench-log")
    project = planning_services.project_create(owner=owner, name="log ingest")
    agent = agent_create(project=project, name="cli", type="coder", executor="claude-code")
    log = claude_log()
    rates: dict[str, list[float]] = {"ingest": [], "floor": []}
    measures = {"ingest": log_ingest_mb_per_s, "floor": log_floor_mb_per_s}
    for number in range(ROUNDS):
        for name in ("ingest", "floor") if number % 2 == 0 else ("floor", "ingest"):
            run = runs.agent_run_create(project=project, agent=agent, payload={"goal": name})
            rates[name].append(measures[name](run=run, log=log))
            assert _logged(run) == log
            if name == "ingest":
                ingest_run = run
    # Every call of the log landed once, with its completion.
    calls = ToolCall.objects.filter(run=ingest_run)
    started = calls.filter(started__isnull=True).count()
    assert started == log.count('"type": "tool_use"') == calls.filter(started__isnull=False).count()
    rate, floor = (statistics.median(rates[name]) for name in ("ingest", "floor"))
    return {
        "database": connection.vendor,
        "log_mb": round(len(log.encode()) / 1e6, 2),
        "tool_calls": started,
        "log_chunks": RunLogChunk.objects.filter(run=ingest_run).count(),
        "log_ingest_mb_per_s": round(rate, 2),
        "log_floor_mb_per_s": round(floor, 2),
        "log_ingest_floor_ratio": round(rate / floor, 3),
    }


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(json.dumps(measure(), indent=2))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
