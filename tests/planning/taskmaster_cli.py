"""Running the real `task-master` CLI (npm `task-master-ai`) on a tasks.json, offline.

It reads `.taskmaster/tasks/tasks.json` under its working directory and needs no API
key for `list`, `next`, `show` and `set-status`. HOME points into the temporary project
so it writes nothing of the user's, and the update check is off.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.hang import HANG_S

ROOT = Path(__file__).resolve().parents[2]
TASK_MASTER = ROOT / "var" / "tools" / "node_modules" / ".bin" / "task-master"

needs_task_master = pytest.mark.skipif(
    not TASK_MASTER.exists(),
    reason=f"task-master is not installed at {TASK_MASTER} (npm task-master-ai, see var/tools)",
)


def write_project(directory: Path, text: str) -> Path:
    tasks = directory / ".taskmaster" / "tasks" / "tasks.json"
    tasks.parent.mkdir(parents=True, exist_ok=True)
    tasks.write_text(text, encoding="utf-8")
    return tasks


def run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HOME": str(directory),
        "TASKMASTER_SKIP_AUTO_UPDATE": "true",
        "NO_COLOR": "1",
        "CI": "true",
    }
    return subprocess.run(
        [str(TASK_MASTER), *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_S,
        check=False,
    )


def run_json(directory: Path, *args: str) -> Any:
    """The JSON document the command prints first (a notice box may follow it)."""
    result = run(directory, *args, "--format", "json")
    start = result.stdout.find("{")
    assert result.returncode == 0 and start >= 0, result.stdout + result.stderr
    data, _ = json.JSONDecoder().raw_decode(result.stdout[start:])
    return data


def next_id(directory: Path) -> str | None:
    """The id `task-master next` picks (`7`, `2.1`), or None when it finds nothing."""
    data = run_json(directory, "next")
    return str(data["task"]["id"]) if data.get("found") else None
