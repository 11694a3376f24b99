"""Pausing Python's cycle collector around work that allocates a great many objects
which all stay alive until it ends (a 10,000-task import makes about a million dicts,
lists and strings). The collector runs a pass every 700 or so new objects and, every so
often, walks everything alive: over an import that is hundreds of passes, a fifth of its
time, and they find nothing to free. Reference counting still frees everything as usual;
only cyclic garbage waits for the pause to end."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
# Whether the collector was on when the outermost pause began (a process may run it off).
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the body with the cycle collector off. Pauses nest and may overlap across
    threads: the collector is back on (if it was on) once the last one ends."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
