"""Reading a GSD `.planning/` tree: Crewboard's importer beside GSD's own gsd-tools.cjs,
on the same synthetic tree, in one run. Prints one JSON object.

    .venv/bin/python bench/gsd_read.py [PHASES] [PLANS_PER_PHASE]

- `floor_s`: reading every file of the tree as text (what any reader must do);
- `crewboard_s`: `parse_source` of the whole tree (detection, every plan, roadmap,
  requirements, validation), median of 3;
- `gsd_tools_s`: `roadmap analyze` plus `phase-plan-index` for every phase, as GSD's
  executor asks for them (one node process per command), median of 3; absent when node or
  gsd-tools is not installed;
- ratios of each to the floor and of Crewboard to gsd-tools.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django  # noqa: E402

django.setup()

from planning.importers import ImportSource, parse_source  # noqa: E402

GSD_TOOLS = ROOT / "var/tools/node_modules/get-shit-done-cc/get-shit-done/bin/gsd-tools.cjs"
PLAN = """---
phase: {phase:02d}-phase
plan: {plan:02d}
type: execute
wave: {wave}
depends_on: [{deps}]
files_modified: [src/m_{phase}_{plan}.py]
autonomous: {autonomous}
must_haves:
  truths:
    - "Plan {phase}-{plan} works"
---

<objective>
Synthetic plan {phase}-{plan}, with a sentence long enough to be cut into a title
of eighty characters.
</objective>

<tasks>
{tasks}
</tasks>
"""
TASK = """<task type="{type}">
  <name>Task {n}: Step {n}</name>
  <files>src/m.py</files>
  <action>
Do step {n}.
```python
if a < b: print("<task>")
```
  </action>
  <verify>pytest -q</verify>
  <done>Step {n} done</done>
</task>"""


def write_tree(root: Path, phases: int, plans: int) -> None:
    roadmap = ["# Roadmap: Bench", "", "## Phase Details", ""]
    for p in range(1, phases + 1):
        folder = root / "phases" / f"{p:02d}-phase"
        folder.mkdir(parents=True)
        roadmap += [f"### Phase {p}: Phase {p}", f"**Goal**: Goal {p}", ""]
        for n in range(1, plans + 1):
            tasks = "\n".join(
                TASK.format(
                    n=t, type="checkpoint:human-verify" if t == 3 and n % 5 == 0 else "auto"
                )
                for t in range(1, 4)
            )
            (folder / f"{p:02d}-{n:02d}-PLAN.md").write_text(
                PLAN.format(
                    phase=p,
                    plan=n,
                    wave=1 if n == 1 else 2,
                    deps=f'"{p:02d}-01"' if n > 1 else "",
                    autonomous="false" if n % 5 == 0 else "true",
                    tasks=tasks,
                )
            )
    (root / "ROADMAP.md").write_text("\n".join(roadmap))


def median_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    phases = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    plans = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    workdir = Path(tempfile.mkdtemp(prefix="gsd-bench-"))
    try:
        planning = workdir / ".planning"
        write_tree(planning, phases, plans)
        files = sorted(p for p in planning.rglob("*") if p.is_file())
        floor = median_of(3, lambda: [f.read_text(encoding="utf-8") for f in files])
        document = parse_source(ImportSource.from_path(planning))
        crewboard = median_of(3, lambda: parse_source(ImportSource.from_path(planning)))
        result = {
            "phases": phases,
            "plans": phases * plans,
            "tasks": len(document.tasks),
            "load_average": os.getloadavg(),
            "floor_s": round(floor, 4),
            "crewboard_s": round(crewboard, 3),
            "crewboard_vs_floor": round(crewboard / floor, 1),
        }
        node = shutil.which("node")
        if node and GSD_TOOLS.exists():

            def gsd_tools() -> None:
                commands = [["roadmap", "analyze"]] + [
                    ["phase-plan-index", str(p)] for p in range(1, phases + 1)
                ]
                for command in commands:
                    subprocess.run(
                        [node, str(GSD_TOOLS), *command, "--cwd", str(workdir)],
                        capture_output=True,
                        check=True,
                        env={**os.environ, "HOME": str(workdir)},
                    )

            peer = median_of(3, gsd_tools)
            result["gsd_tools_s"] = round(peer, 3)
            result["crewboard_vs_gsd_tools"] = round(crewboard / peer, 2)
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
