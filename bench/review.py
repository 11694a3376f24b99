"""What reviewing and landing a task's work costs next to plain git. Prints one JSON object.

A repository of BENCH_REVIEW_FILES (10,000) files is generated under a temporary folder:
`main`, and a task branch `crewboard/T-1-1` that changes BENCH_REVIEW_CHANGED (200) of
them, while `main` has moved on by 20 others since, so both sides do a real three-way
merge. Then, side by side in one run, alternating which goes first in each round so that
a warm page cache or a busy neighbour favours neither:

- `merge_ratio`: Crewboard's squash merge (`branch_merge`: the merge made in the object
  store, then the user's checkout, clean on `main`, fast-forwarded to it) against
  `git merge --squash` + `git commit` in that checkout. Between rounds the checkout is
  reset and its index refreshed a second later, as a checkout last touched a while ago.
- `conflict_check_ratio`: `merge_check` against a plain `git merge-tree --write-tree`.
- `diff_page_ms` and `diff_page_vs_git_diff`: the review page of a 5,000-line diff over
  50 files through the whole Django stack, against plain `git diff` of the same range
  (bench/review_page.py, which makes its own repository and project; a first view with
  the cache empty is printed too, as `diff_page_ms_first_view`).

Each ratio is the median Crewboard time over the median plain time (lower is better; the
merge targets are at most 1.5, the page's at most 5 and under 300 ms); the raw medians,
in milliseconds, are printed too, with what Crewboard's merge spends in each step
(`merge_steps_ms`). The page part runs against a throwaway database next to the
configured one (SQLite by default; DATABASE_URL and REDIS_URL pick others):

    .venv/bin/python bench/review.py
    BENCH_PARTS=check,page .venv/bin/python bench/review.py

Other parts of the review's cost join `PARTS` below: each is a function that takes the
generated repository and returns its figures.
"""

import functools
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Sets Django up for the page part.
from bench import review_page
from core import git

FILES = int(os.environ.get("BENCH_REVIEW_FILES", "10000"))
CHANGED = int(os.environ.get("BENCH_REVIEW_CHANGED", "200"))
BASE_MOVES = 20
ROUNDS = int(os.environ.get("BENCH_REVIEW_ROUNDS", "9"))
CHECK_ROUNDS = int(os.environ.get("BENCH_REVIEW_CHECK_ROUNDS", "61"))
WARM_UP = 5
BRANCH = "crewboard/T-1-1"
WORDS = ["agent", "branch", "commit", "diff", "merge", "plan", "review", "task", "worktree"]


def run(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=600
    )
    return done.stdout.strip()


def file_path(repo: Path, n: int) -> Path:
    return repo / f"pkg{n % 100:02d}" / f"mod{n // 1000}" / f"file{n}.py"


def generate_repository(root: Path) -> Path:
    """FILES files in 100 folders on main; BRANCH changes CHANGED of them, and main
    then moves on by BASE_MOVES others. The checkout is left clean on main."""
    repo = root / "repo"
    rng = random.Random(42)
    for n in range(FILES):
        path = file_path(repo, n)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = (" ".join(rng.choice(WORDS) + str(rng.randrange(999)) for _ in range(8))
                 for _ in range(40))  # fmt: skip
        path.write_text("\n".join(lines) + "\n")
    run(repo, "init", "-q", "-b", "main")
    run(repo, "config", "user.name", "Bench")
    run(repo, "config", "user.email", "bench@example.com")
    run(repo, "add", "-A")
    run(repo, "commit", "-q", "-m", "generated")
    run(repo, "checkout", "-q", "-b", BRANCH)
    for n in range(0, FILES, FILES // CHANGED):
        path = file_path(repo, n)
        path.write_text(path.read_text() + "changed by the task\n")
    run(repo, "commit", "-q", "-am", "the task's work")
    run(repo, "checkout", "-q", "main")
    for n in range(7, FILES, FILES // BASE_MOVES):
        path = file_path(repo, n)
        path.write_text("moved on main\n" + path.read_text())
    run(repo, "commit", "-q", "-am", "main moves on")
    checkout_settle(repo)
    return repo


def checkout_settle(repo: Path) -> None:
    # Files written in the same second as the index are "racily clean": every git command
    # would read them in full until the index is written again a second later.
    time.sleep(1.05)
    run(repo, "update-index", "-q", "--refresh")


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def in_turn(
    first_ours: bool, ours: Callable[[], Any], plain: Callable[[], Any]
) -> tuple[float, float]:
    """Time both, in the order asked for; returns (ours, plain) in milliseconds."""
    if first_ours:
        mine = timed(ours)
        return mine, timed(plain)
    theirs = timed(plain)
    return timed(ours), theirs


def measure_conflict_check(repo: Path | None = None) -> dict[str, Any]:
    """merge_check against a plain `git merge-tree --write-tree`, CHECK_ROUNDS rounds."""
    if repo is None:
        return _in_generated(measure_conflict_check)
    ours: list[float] = []
    plain: list[float] = []
    for round_ in range(-WARM_UP, CHECK_ROUNDS):
        pair = in_turn(
            round_ % 2 == 0,
            lambda: git.merge_check(repo, base="main", branch=BRANCH),
            lambda: run(repo, "merge-tree", "--write-tree", "main", BRANCH),
        )
        if round_ >= 0:  # the first rounds read the objects into the page cache
            ours.append(pair[0])
            plain.append(pair[1])
    return {
        "conflict_check_ratio": round(statistics.median(ours) / statistics.median(plain), 3),
        "conflict_check_ms": round(statistics.median(ours), 2),
        "plain_merge_tree_ms": round(statistics.median(plain), 2),
    }


def measure_merge(repo: Path | None = None) -> dict[str, Any]:
    """A squash merge landed in the user's clean checkout on main, Crewboard's against
    `git merge --squash` + `git commit`, ROUNDS rounds; the checkout is reset between."""
    if repo is None:
        return _in_generated(measure_merge)
    start = git.rev_parse(repo, "main")

    def ours() -> None:
        merged = git.branch_merge(repo, base="main", branch=BRANCH, strategy="squash",
                                  message="T-1-1: the task's work")  # fmt: skip
        assert merged.advance.outcome == "fast_forwarded", merged.advance

    def plain() -> None:
        run(repo, "merge", "--squash", "-q", BRANCH)
        run(repo, "commit", "-q", "-m", "T-1-1: the task's work")

    def reset() -> None:
        assert run(repo, "status", "--porcelain") == ""
        assert git.rev_parse(repo, "main") != start
        run(repo, "reset", "-q", "--hard", start)
        checkout_settle(repo)

    times: dict[str, list[float]] = {"ours": [], "plain": []}
    for round_ in range(ROUNDS + 1):
        first, second = (ours, plain) if round_ % 2 == 0 else (plain, ours)
        spent = [timed(first)]
        reset()
        spent.append(timed(second))
        reset()
        if round_:  # the first round reads the objects into the page cache
            mine, theirs = spent if round_ % 2 == 0 else spent[::-1]
            times["ours"].append(mine)
            times["plain"].append(theirs)
    ours_ms, plain_ms = statistics.median(times["ours"]), statistics.median(times["plain"])
    return {
        "merge_ratio": round(ours_ms / plain_ms, 3),
        "merge_ms": round(ours_ms, 1),
        "plain_merge_squash_commit_ms": round(plain_ms, 1),
        "merge_steps_ms": merge_steps(repo, start, reset),
    }


def merge_steps(repo: Path, start: str, reset: Callable[[], None]) -> dict[str, float]:
    """Where Crewboard's merge spends its time (medians of ROUNDS): `commit_create` is a
    check and the commit; `advance` is a worktree list, the checkout's status (each also
    timed alone) and its fast-forward."""
    steps: dict[str, list[float]] = {}

    def step(name: str, action: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = action()
        steps.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return value

    status = ("status", "--porcelain=v2", "--branch", "-z", "--untracked-files=no")
    for _ in range(ROUNDS):
        with git.repository_lock(repo):
            step("check", lambda: git.merge_check(repo, base="main", branch=BRANCH))
            made = step("commit_create", lambda: git.merge_commit_create(
                repo, base="main", branch=BRANCH, strategy="squash", message="T-1-1"))  # fmt: skip
            step("advance_worktree_list", lambda: git.worktree_list(repo))
            step("advance_status", lambda: git.git(*status, cwd=repo))
            advance = functools.partial(git.base_advance, repo, base="main", old=start,
                                        new=made.commit)  # fmt: skip
            step("advance", advance)
        reset()
    return {name: round(statistics.median(values), 1) for name, values in steps.items()}


def _in_generated(measure: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="crewboard-bench-review-"))
    try:
        return measure(generate_repository(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


# Each part of the review's cost, by the name BENCH_PARTS picks it with. The page makes
# its own repository, a smaller one: it is given none.
PARTS: dict[str, Callable[[Path | None], dict[str, Any]]] = {
    "merge": measure_merge,
    "check": measure_conflict_check,
    "page": review_page.measure_review_page,
}
ON_THE_GENERATED_REPOSITORY = {"merge", "check"}


def measure_all(parts: list[str] | None = None) -> dict[str, Any]:
    """Every part asked for (all by default), the merge parts against one generated
    repository."""
    names = parts if parts is not None else list(PARTS)
    root = Path(tempfile.mkdtemp(prefix="crewboard-bench-review-"))
    try:
        results: dict[str, Any] = {}
        repo = None
        if ON_THE_GENERATED_REPOSITORY & set(names):
            started = time.perf_counter()
            repo = generate_repository(root)
            results.update(
                repository_files=FILES,
                changed_files=CHANGED,
                generate_s=round(time.perf_counter() - started, 1),
                rounds=ROUNDS,
                check_rounds=CHECK_ROUNDS,
            )
        for name in names:
            results.update(PARTS[name](repo if name in ON_THE_GENERATED_REPOSITORY else None))
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    chosen = os.environ.get("BENCH_PARTS", "")
    parts = [name for name in chosen.split(",") if name] or None
    if "page" not in (parts or PARTS):
        print(json.dumps(measure_all(parts), indent=2))
        return
    with review_page.throwaway_database():
        print(json.dumps(measure_all(parts), indent=2))


if __name__ == "__main__":
    main()
