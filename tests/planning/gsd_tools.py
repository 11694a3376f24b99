"""Running GSD's own `gsd-tools.cjs` (npm `get-shit-done-cc`, under var/tools) on a
`.planning/` folder, to judge Crewboard's reading and writing of GSD against it.

The folder is reached through a symlink in a temporary project, so plan sets are read
where they are; HOME points into that project so the tool writes nothing of the user's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.hang import HANG_S

ROOT = Path(__file__).resolve().parents[2]
GSD_TOOLS = ROOT / "var/tools/node_modules/get-shit-done-cc/get-shit-done/bin/gsd-tools.cjs"
NODE = shutil.which("node")

needs_gsd_tools = pytest.mark.skipif(
    NODE is None or not GSD_TOOLS.exists(),
    reason=(
        "node is not installed"
        if NODE is None
        else f"gsd-tools is not installed at {GSD_TOOLS} (npm get-shit-done-cc, `make tools`)"
    ),
)


def project_for(planning: Path, workdir: Path) -> Path:
    """A project folder whose `.planning` is `planning` (linked, not copied)."""
    project = workdir / "project"
    project.mkdir(exist_ok=True)
    link = project / ".planning"
    if not link.exists():
        link.symlink_to(planning.resolve(), target_is_directory=True)
    return project


def run_json(project: Path, *args: str) -> Any:
    """The JSON the command prints (or the file it names with `@file:` when large)."""
    env = {**os.environ, "HOME": str(project), "NO_COLOR": "1"}
    result = subprocess.run(
        [str(NODE), str(GSD_TOOLS), *args, "--cwd", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.strip()
    if out.startswith("@file:"):
        out = Path(out[len("@file:") :]).read_text(encoding="utf-8")
    return json.loads(out)


def plan_files(planning: Path) -> list[Path]:
    """The plan files GSD's tools read: `*-PLAN.md` and `PLAN.md` anywhere below."""
    return sorted(
        p
        for p in planning.rglob("*.md")
        if p.name.upper().endswith("-PLAN.MD") or p.name.upper() == "PLAN.MD"
    )
