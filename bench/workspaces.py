"""What Crewboard's worktrees cost next to plain git. Prints one JSON object.

A repository of BENCH_WT_FILES (10,000) files, about BENCH_WT_MB (35) MB, is generated
under a temporary folder and committed once. Then, side by side in one run, alternating
which goes first in each round so that a warm page cache or a busy neighbour favours
neither:

- `worktree_create_ratio`: `workspace_create` (the checks, the worktree, the Workspace
  row, the task's fields and the run's log, as a coding run makes it) against a plain
  `git worktree add -b <branch> <path> main`.
- `worktree_remove_ratio`: `workspace_remove` against a plain `git worktree remove
  --force <path>`.
- `parallel_4_ratio`: four creates at once (four threads, each with its own database
  connection, as four workers would) against four plain `git worktree add` at once;
  the wall time of each batch. Plain git can fail here: two `worktree add` at once in one
  repository may read each other's half-written records. `plain_parallel_failures`
  counts those (the batch is timed all the same); Crewboard's creates never fail.

Each ratio is the median Crewboard time over the median plain time (lower is better; the
target is at most 1.3); the raw medians, in milliseconds, are printed too. Then, unless
BENCH_PARTS leaves them out, the other costs of a coding run, each against its floor in
the same run: `log_ingest_mb_per_s` (bench/log_ingest.py) and `run_page_ms`,
`verify_overhead_ms` (bench/coding_pages.py). Runs against a throwaway database next to
the configured one:

    .venv/bin/python bench/workspaces.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/workspaces.py
"""

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django

django.setup()

import coding_pages  # noqa: E402  (bench/, on sys.path as this script's folder)
import log_ingest  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections  # noqa: E402

from agents.models import Agent, AgentRun, Workspace  # noqa: E402
from agents.services import workspaces  # noqa: E402
from planning.models import Project, ProjectMembership, Task  # noqa: E402

FILES = int(os.environ.get("BENCH_WT_FILES", "10000"))
MEGABYTES = float(os.environ.get("BENCH_WT_MB", "35"))
ROUNDS = int(os.environ.get("BENCH_WT_ROUNDS", "7"))
# Which of the other measures run after the worktree ones: BENCH_PARTS=log,pages.
PARTS = os.environ.get("BENCH_PARTS", "log,pages").split(",")
PARALLEL_ROUNDS = int(os.environ.get("BENCH_WT_PARALLEL_ROUNDS", "5"))
PARALLEL = 4
WORDS = [
    "agent", "branch", "commit", "diff", "feature", "merge", "plan", "queue", "review",
    "run", "task", "test", "tool", "verify", "worker", "worktree", "crewboard", "project",
]  # fmt: skip


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", *args],
        cwd=cwd, check=True, capture_output=True, timeout=600,
    )  # fmt: skip


def generate_repository(root: Path) -> Path:
    """FILES files of about MEGABYTES in all, in 100 folders, committed on main."""
    repo = root / "repo"
    repo.mkdir()
    rng = random.Random(42)
    mean = MEGABYTES * 1_000_000 / FILES
    for n in range(FILES):
        folder = repo / f"pkg{n % 100:02d}" / f"mod{n // 1000}"
        folder.mkdir(parents=True, exist_ok=True)
        size = int(rng.uniform(0.2, 1.8) * mean)
        words: list[str] = []
        length = 0
        while length < size:
            word = rng.choice(WORDS) + str(rng.randrange(1000))
            words.append(word)
            length += len(word) + 1
        (folder / f"file{n}.py").write_text(" ".join(words)[:size] + "\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "generated")
    return repo


def make_project(repo: Path) -> tuple[Project, Agent]:
    owner = get_user_model().objects.create(username="bench")
    project = Project.objects.create(
        owner=owner, name="Bench", slug="bench", root_path=str(repo), base_branch="main"
    )
    ProjectMembership.objects.create(project=project, user=owner, role="owner")
    agent = Agent.objects.create(project=project, name="coder", type="coder")
    return project, agent


def new_run(project: Project, agent: Agent, n: int) -> AgentRun:
    task = Task.objects.create(project=project, key=f"B{n}", name=f"Bench {n}")
    return AgentRun.objects.create(
        project=project,
        agent=agent,
        task=task,
        status="running",
        stage="preparing",
        idempotency_key=f"bench-{n}",
    )


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def create_in_thread(run: AgentRun) -> Workspace:
    try:
        return workspaces.workspace_create(run=run)
    finally:
        connections.close_all()  # the thread's own connection


def plain_add(repo: Path, path: Path, branch: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "worktree", "add", "-q", "-b", branch, str(path), "main"],
        cwd=repo, capture_output=True, timeout=600, check=False,
    )  # fmt: skip


def measure(repo: Path, plain_dir: Path) -> dict[str, Any]:
    project, agent = make_project(repo)
    counter = iter(range(1_000_000))
    times: dict[str, list[float]] = {
        key: [] for key in ("create", "plain_create", "remove", "plain_remove", "par", "plain_par")
    }
    # Warm-up (untimed): the first checkout reads the objects into the page cache.
    warm = workspaces.workspace_create(run=new_run(project, agent, next(counter)))
    workspaces.workspace_remove(workspace=warm, reason="warm-up")

    for round_ in range(ROUNDS):
        n = next(counter)
        run = new_run(project, agent, n)
        path = plain_dir / f"p{n}"
        made: list[Workspace] = []

        def ours(run: AgentRun = run, made: list[Workspace] = made) -> None:
            made.append(workspaces.workspace_create(run=run))

        def plain(path: Path = path, n: int = n) -> None:
            plain_add(repo, path, f"plain/{n}").check_returncode()

        for side in ("ours", "plain") if round_ % 2 == 0 else ("plain", "ours"):
            if side == "ours":
                times["create"].append(timed(ours))
            else:
                times["plain_create"].append(timed(plain))
        for side in ("plain", "ours") if round_ % 2 == 0 else ("ours", "plain"):
            if side == "ours":
                times["remove"].append(
                    timed(
                        lambda made=made: workspaces.workspace_remove(
                            workspace=made[0], reason="bench"
                        )
                    )
                )
            else:
                times["plain_remove"].append(
                    timed(lambda path=path: git(repo, "worktree", "remove", "--force", str(path)))
                )

    failures = 0
    for round_ in range(PARALLEL_ROUNDS):
        runs = [new_run(project, agent, next(counter)) for _ in range(PARALLEL)]
        numbers = [next(counter) for _ in range(PARALLEL)]
        made_batch: list[Workspace] = []

        def ours_batch(runs: list[AgentRun] = runs, made: list[Workspace] = made_batch) -> None:
            with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
                made.extend(pool.map(create_in_thread, runs))

        def plain_batch(numbers: list[int] = numbers) -> None:
            nonlocal failures
            with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
                done = pool.map(
                    lambda number: plain_add(repo, plain_dir / f"p{number}", f"plain/{number}"),
                    numbers,
                )
                failures += sum(1 for result in done if result.returncode != 0)

        for side in ("ours", "plain") if round_ % 2 == 0 else ("plain", "ours"):
            if side == "ours":
                times["par"].append(timed(ours_batch))
            else:
                times["plain_par"].append(timed(plain_batch))
        for workspace in made_batch:
            workspaces.workspace_remove(workspace=workspace, reason="bench")
        for n in numbers:
            subprocess.run(["git", "worktree", "remove", "--force", str(plain_dir / f"p{n}")],
                           cwd=repo, capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(plain_dir, ignore_errors=True)
        git(repo, "worktree", "prune")

    med = {key: statistics.median(values) for key, values in times.items()}
    return {
        "worktree_create_ratio": round(med["create"] / med["plain_create"], 3),
        "worktree_remove_ratio": round(med["remove"] / med["plain_remove"], 3),
        "parallel_4_ratio": round(med["par"] / med["plain_par"], 3),
        "worktree_create_ms": round(med["create"], 1),
        "plain_worktree_add_ms": round(med["plain_create"], 1),
        "worktree_remove_ms": round(med["remove"], 1),
        "plain_worktree_remove_ms": round(med["plain_remove"], 1),
        "parallel_4_ms": round(med["par"], 1),
        "plain_parallel_4_ms": round(med["plain_par"], 1),
        "plain_parallel_failures": failures,
    }


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    root = Path(tempfile.mkdtemp(prefix="crewboard-bench-wt-"))
    try:
        started = time.perf_counter()
        repo = generate_repository(root)
        size = sum(f.stat().st_size for f in repo.rglob("*.py"))
        settings.WORKSPACES_DIR = root / "worktrees"
        results: dict[str, Any] = {
            "database": connection.vendor,
            "repository_files": FILES,
            "repository_mb": round(size / 1_000_000, 1),
            "generate_s": round(time.perf_counter() - started, 1),
            "rounds": ROUNDS,
            "parallel_rounds": PARALLEL_ROUNDS,
        }
        results.update(measure(repo, root / "plain"))
        # The rest of a coding run's costs, each against its own floor in this run.
        if "log" in PARTS:
            results.update(log_ingest.measure())
        if "pages" in PARTS:
            results.update(coding_pages.measure_all())
        print(json.dumps(results, indent=2))
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
