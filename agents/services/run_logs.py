"""A run's log: what its setup, commands, checks and coding CLI print, as it comes.

The log is a sequence of chunks (`RunLogChunk`), appended in order and never rewritten,
so a log of any size costs one insert per chunk and the run page reads it from an
offset. Output is buffered and written in batches: a chunk holds up to `CHUNK_CHARS`
characters of one stream, and the buffer is written when it holds that much or every
`FLUSH_INTERVAL_S` while output keeps coming.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from agents.models import RunLogChunk
from core.inserts import insert_rows
from core.text import without_nul

CHUNK_CHARS = 64 * 1024
FLUSH_INTERVAL_S = 0.5


def _next_seq(run_id: int) -> int:
    last = RunLogChunk.objects.filter(run_id=run_id).aggregate(last=Max("seq"))["last"]
    return (last or 0) + 1


def run_log_append(*, run_id: int, stream: str, text: str) -> RunLogChunk:
    """Append one piece of text to a run's log (a line of its own, such as "setup
    started"). For output that streams, use RunLogWriter."""
    for _ in range(3):
        try:
            with transaction.atomic():
                return RunLogChunk.objects.create(
                    run_id=run_id, seq=_next_seq(run_id), stream=stream, text=without_nul(text)
                )
        except IntegrityError:
            continue  # another writer took the number; take the next one
    raise RuntimeError(f"could not append to the log of run {run_id}")


class RunLogWriter:
    """Buffers a run's output and appends it to the log in chunks.

    `write` may be called from several threads (a command's stdout and stderr readers),
    but only the thread that made the writer touches the database (a connection belongs
    to its thread, and SQLite has one writer): output written elsewhere waits for that
    thread's next `write`, `pump` or `close`. One writer per run at a time: it numbers
    its chunks from the log's end when opened.
    """

    def __init__(
        self, run_id: int, *, chunk_chars: int = CHUNK_CHARS, limit_chars: int | None = None
    ) -> None:
        self.run_id = run_id
        self.chunk_chars = chunk_chars
        # A command that prints gigabytes must not fill the database: past the limit, one
        # line says what was left out (the command's own result keeps its output's tail).
        self.limit_chars = settings.RUN_LOG_MAX_CHARS if limit_chars is None else limit_chars
        self._accepted = 0
        self._dropped = 0
        self._seq = _next_seq(run_id)
        self._pending: list[tuple[str, str]] = []
        self._pending_chars = 0
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._owner = threading.get_ident()
        self.chars_written = 0

    def write(self, stream: str, text: str) -> None:
        if not text:
            return
        with self._lock:
            room = self.limit_chars - self._accepted
            if len(text) > room:
                self._dropped += len(text) - max(room, 0)
                text = text[: max(room, 0)]
            self._accepted += len(text)
            if text:
                self._pending.append((stream, text))
                self._pending_chars += len(text)
        self.pump()

    def pump(self) -> None:
        """Write what is buffered if a chunk is full or the interval has passed (on the
        owner's thread; elsewhere it does nothing)."""
        if threading.get_ident() != self._owner:
            return
        with self._lock:
            due = time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S
            if self._pending_chars >= self.chunk_chars or (due and self._pending):
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        if self._dropped:
            with self._lock:
                note = (
                    f"\n[{self._dropped:,} more characters of output were not logged: the log "
                    f"keeps the first {self.limit_chars:,} of each command or attempt]\n"
                )
                self._pending.append(("system", note))
                self._dropped = 0
        self.flush()

    def __enter__(self) -> RunLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        chunks: list[RunLogChunk] = []
        stream, size = self._pending[0][0], 0
        parts: list[str] = []
        for piece_stream, text in self._pending:
            if piece_stream != stream or size >= self.chunk_chars:
                chunks.append(self._chunk(stream, "".join(parts)))
                stream, parts, size = piece_stream, [], 0
            parts.append(text)
            size += len(text)
        chunks.append(self._chunk(stream, "".join(parts)))
        self._pending.clear()
        self._pending_chars = 0
        insert_rows(chunks)  # a chunk or a few, written often: one prepared statement
        self.chars_written += sum(len(chunk.text) for chunk in chunks)

    def _chunk(self, stream: str, text: str) -> RunLogChunk:
        chunk = RunLogChunk(
            run_id=self.run_id, seq=self._seq, stream=stream, text=without_nul(text)
        )
        self._seq += 1
        return chunk
