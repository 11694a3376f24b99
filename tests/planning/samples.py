"""Where the GSD plan sets other teams wrote live: read in place, never copied here.

`CREWBOARD_SAMPLES_DIR` names the folder; by default it is `shared/samples` beside the
checkout. Tests that need it skip when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_CANDIDATES = [
    Path(os.environ["CREWBOARD_SAMPLES_DIR"]) if os.environ.get("CREWBOARD_SAMPLES_DIR") else None,
    ROOT.parent / "shared" / "samples",
    Path("/work/shared/samples"),
]
SAMPLES = next((p for p in _CANDIDATES if p is not None and p.is_dir()), ROOT.parent / "missing")
GSD_SAMPLES = (
    sorted(p for p in (SAMPLES / "gsd").glob("*") if p.is_dir()) if SAMPLES.is_dir() else []
)

needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason="the shared sample plans are absent (set CREWBOARD_SAMPLES_DIR to their folder)",
)
