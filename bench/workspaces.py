"""What Crewboard's worktrees cost next to plain git. Prints one JSON object.

A repository of BENCH_WT_FILES (10,000) files, about BENCH_WT_MB (35) MB, is generated
under a temporary folder and committed once. Then, side by side in one run, alternating
which side goes first in each round so that a warm page cache or a busy neighbour favours
neither. Each side makes its worktree and removes it before the other side's turn, and
every timed step starts with the file system's pending writes done (`os.sync`, untimed):
a step timed right after a remove of 10,000 files would otherwise pay for that remove's
freed blocks, whichever side removed them.

- `worktree_create_ratio`: `workspace_create` (the checks, the worktree, the Workspace
  row, the task's fields and the run's log, as a coding run makes it) against a plain
  `git worktree add -b <branch> <path> main`.
- `worktree_remove_ratio`: `workspace_remove` against a plain `git worktree remove
  --force <path>`.
- `parallel_4_ratio`: four creates at once (four threads, each with its own database
  connection, as four workers would) against four plain `git worktree add` at once;
  the wall time of each batch. Plain git can fail here: two `worktree add` at once in one
  repository may read each other's half-written records. `plain_parallel_failures`
  counts those; each is made again (`-B`) within the timed batch, so that both sides
  make four worktrees. Crewboard's creates never fail.

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
# The run page renders without collectstatic, as in the tests (bench/coding_pages.py).
os.environ.setdefault(
    "STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage"
)

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, connections  # noqa: E402

from agents.models import Agent, AgentRun, Workspace  # noqa: E402
from agents.services import workspaces  # noqa: E402
from bench import coding_pages, log_ingest  # noqa: E402
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


def settle() -> None:
    """Write out what the steps before left in memory: the files a create wrote, the
    blocks a remove freed (discarded at the file system's next journal commit). Untimed,
    before every timed step, so that no step pays for the one before it, whichever side
    that was: a create timed right after a remove of 10,000 files otherwise waits for
    that remove's journal work, and took several times a create's own time."""
    os.sync()


class Bench:
    def __init__(self, repo: Path, plain_dir: Path) -> None:
        self.repo, self.plain_dir = repo, plain_dir
        self.project, self.agent = make_project(repo)
        self.numbers = iter(range(1_000_000))
        self.times: dict[str, list[float]] = {}
        self.plain_failures = 0

    def record(self, key: str, milliseconds: float) -> None:
        self.times.setdefault(key, []).append(milliseconds)

    def run(self) -> AgentRun:
        return new_run(self.project, self.agent, next(self.numbers))

    def one_round(self, round_: int) -> None:
        """Each side creates a worktree and removes it again, Crewboard's side first in
        even rounds: so each create follows a remove and each remove its own create, the
        same on both sides."""
        sides = [self.ours_once, self.plain_once]
        for side in sides if round_ % 2 == 0 else reversed(sides):
            side()

    def ours_once(self) -> None:
        run = self.run()
        made: list[Workspace] = []
        settle()
        self.record("create", timed(lambda: made.append(workspaces.workspace_create(run=run))))
        settle()
        self.record(
            "remove",
            timed(lambda: workspaces.workspace_remove(workspace=made[0], reason="bench")),
        )

    def plain_once(self) -> None:
        n = next(self.numbers)
        path = self.plain_dir / f"p{n}"
        settle()
        self.record(
            "plain_create",
            timed(lambda: plain_add(self.repo, path, f"plain/{n}").check_returncode()),
        )
        settle()
        self.record(
            "plain_remove",
            timed(lambda: git(self.repo, "worktree", "remove", "--force", str(path))),
        )

    def parallel_round(self, round_: int) -> None:
        """Each side makes PARALLEL worktrees at once, then they are removed (untimed)
        before the other side's batch; Crewboard's side first in even rounds."""
        sides = [self.ours_batch, self.plain_batch]
        for side in sides if round_ % 2 == 0 else reversed(sides):
            side()

    def ours_batch(self) -> None:
        runs = [self.run() for _ in range(PARALLEL)]
        made: list[Workspace] = []

        def batch() -> None:
            with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
                made.extend(pool.map(create_in_thread, runs))

        settle()
        self.record("parallel", timed(batch))
        for workspace in made:
            workspaces.workspace_remove(workspace=workspace, reason="bench")

    def plain_batch(self) -> None:
        paths = {n: self.plain_dir / f"p{n}" for n in (next(self.numbers) for _ in range(PARALLEL))}

        def batch() -> None:
            with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
                done = dict(
                    zip(
                        paths,
                        pool.map(lambda n: plain_add(self.repo, paths[n], f"plain/{n}"), paths),
                        strict=True,
                    )
                )
            # The same work as Crewboard's batch: PARALLEL worktrees. An add that failed
            # (it read another's half-written record) is made again, once the others
            # are done; -B as the failed one may have made its branch already.
            for n, result in done.items():
                if result.returncode != 0:
                    self.plain_failures += 1
                    shutil.rmtree(paths[n], ignore_errors=True)
                    subprocess.run(
                        ["git", "worktree", "add", "-q", "-B", f"plain/{n}", str(paths[n]), "main"],
                        cwd=self.repo, capture_output=True, timeout=600, check=True,
                    )  # fmt: skip

        settle()
        self.record("plain_parallel", timed(batch))
        for path in paths.values():
            subprocess.run(["git", "worktree", "remove", "--force", str(path)],
                           cwd=self.repo, capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(self.plain_dir, ignore_errors=True)
        git(self.repo, "worktree", "prune")


def measure(repo: Path, plain_dir: Path) -> dict[str, Any]:
    bench = Bench(repo, plain_dir)
    settle()  # the generated repository's files and objects
    # Warm-up (untimed): the first checkout reads the objects into the page cache.
    warm = workspaces.workspace_create(run=bench.run())
    workspaces.workspace_remove(workspace=warm, reason="warm-up")
    for round_ in range(ROUNDS):
        bench.one_round(round_)
    for round_ in range(PARALLEL_ROUNDS):
        bench.parallel_round(round_)
    med = {key: statistics.median(values) for key, values in bench.times.items()}
    return {
        "worktree_create_ratio": round(med["create"] / med["plain_create"], 3),
        "worktree_remove_ratio": round(med["remove"] / med["plain_remove"], 3),
        "parallel_4_ratio": round(med["parallel"] / med["plain_parallel"], 3),
        "worktree_create_ms": round(med["create"], 1),
        "plain_worktree_add_ms": round(med["plain_create"], 1),
        "worktree_remove_ms": round(med["remove"], 1),
        "plain_worktree_remove_ms": round(med["plain_remove"], 1),
        "parallel_4_ms": round(med["parallel"], 1),
        "plain_parallel_4_ms": round(med["plain_parallel"], 1),
        "plain_parallel_failures": bench.plain_failures,
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
