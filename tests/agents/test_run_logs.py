"""A run's log is a sequence of chunks, written in batches and read from an offset."""

import threading

import pytest

from agents import selectors
from agents.models import RunLogChunk
from agents.services.run_logs import RunLogWriter, run_log_append
from tests.factories import AgentRunFactory

pytestmark = pytest.mark.django_db


def _log(run) -> str:
    chunks = RunLogChunk.objects.filter(run=run).order_by("seq")
    return "".join(chunks.values_list("text", flat=True))


def test_output_is_kept_whole_and_in_order_across_chunks():
    run = AgentRunFactory()
    lines = [f"line {n}\n" for n in range(5000)]
    with RunLogWriter(run.pk, chunk_chars=1000) as writer:
        for line in lines:
            writer.write("stdout", line)
    assert _log(run) == "".join(lines)
    chunks = RunLogChunk.objects.filter(run=run)
    assert chunks.count() > 10  # in pieces, never one growing row
    assert max(len(text) for text in chunks.values_list("text", flat=True)) < 2000


def test_streams_are_not_mixed_within_a_chunk():
    run = AgentRunFactory()
    with RunLogWriter(run.pk) as writer:
        writer.write("stdout", "out 1\n")
        writer.write("stderr", "err 1\n")
        writer.write("stdout", "out 2\n")
    rows = list(RunLogChunk.objects.filter(run=run).values_list("seq", "stream", "text"))
    assert rows == [(1, "stdout", "out 1\n"), (2, "stderr", "err 1\n"), (3, "stdout", "out 2\n")]


def test_a_writer_continues_after_earlier_lines_and_nul_is_replaced():
    run = AgentRunFactory()
    run_log_append(run_id=run.pk, stream="system", text="setup started\n")
    with RunLogWriter(run.pk) as writer:
        writer.write("stdout", "a\x00b\n")
    assert list(RunLogChunk.objects.filter(run=run).values_list("seq", flat=True)) == [1, 2]
    assert _log(run) == "setup started\na\ufffdb\n"


def test_writes_from_several_threads_all_land():
    run = AgentRunFactory()
    writer = RunLogWriter(run.pk, chunk_chars=100)

    def write(stream: str) -> None:
        for n in range(500):
            writer.write(stream, f"{stream} {n}\n")

    threads = [threading.Thread(target=write, args=(s,)) for s in ("stdout", "stderr")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    text = _log(run)
    for stream in ("stdout", "stderr"):
        assert sum(line.startswith(stream) for line in text.splitlines()) == 500


def test_chunks_are_read_from_an_offset():
    run = AgentRunFactory()
    for n in range(5):
        run_log_append(run_id=run.pk, stream="stdout", text=f"{n}\n")
    chunks = selectors.run_log_chunks(run=run, after_seq=2, limit=2)
    assert [c.text for c in chunks] == ["2\n", "3\n"]


def test_output_past_the_limit_is_left_out_and_said_so():
    run = AgentRunFactory()
    with RunLogWriter(run.pk, limit_chars=1000) as writer:
        for _ in range(100):
            writer.write("stdout", "x" * 99 + "\n")
    text = _log(run)
    assert text.startswith("x" * 99 + "\n") and len(text) < 1200
    assert "9,000 more characters of output were not logged" in text
