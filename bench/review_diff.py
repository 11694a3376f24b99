"""What a review's diff costs next to plain git. Prints one JSON object.

A repository is generated with BENCH_DIFF_FILES (50) Python files of about 300 lines,
then a second commit changes BENCH_DIFF_LINES (5,000) lines in all (each file: half as
many lines replaced, in eight hunks). Then, side by side in one run, alternating which
goes first in each round:

- `git_diff_ms`: plain `git diff <base> <head>` of the whole range, its output read.
- `diff_render_ms_cold`: `diff_page` for page 1 (the file list, the first page's
  hunks, highlighted) and the `core/_diff.html#diff-page` fragment rendered from it,
  split view, with Django's cache emptied first: a review's first view.
- `diff_render_ms_warm`: the same again, the cache holding what the first view read
  (no git process runs).

Medians of BENCH_ROUNDS (9) rounds, in milliseconds, and the ratios of each to plain
git. The page shows at most 20 files (here 20 files, 2,000 changed lines) while git
prints all 50; `page_files` and `page_lines` say what the page held. Uses the
configured cache (locmem, or Redis with REDIS_URL):

    .venv/bin/python bench/review_diff.py
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault(
    "STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage"
)

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.template.loader import get_template  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from core.diffview.pages import diff_page  # noqa: E402

FILES = int(os.environ.get("BENCH_DIFF_FILES", "50"))
LINES = int(os.environ.get("BENCH_DIFF_LINES", "5000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
HUNKS = 8


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def module_lines(n: int, functions: int) -> list[str]:
    # A plausible module: functions with docstrings, comments and a little arithmetic.
    lines = [f'"""Module {n}: generated for the review benchmark."""', "", "import math", ""]
    for f in range(functions):
        lines += [
            "",
            f"def compute_{n}_{f}(value: float, factor: int = {f + 1}) -> float:",
            f'    """Scale `value` by {f + 1}, then round it.',
            "",
            "    The result is never negative.",
            '    """',
            "    # Negative values are clamped first.",
            "    value = max(value, 0.0)",
            f"    total = value * factor + {f}",
            '    label = f"{total:.2f}"',
            "    return math.floor(total) if label else 0.0",
        ]
    return lines


def write_modules(repo: Path) -> None:
    """FILES modules of about 300 lines under `repo`/src: the base of the diff."""
    (repo / "src").mkdir(parents=True, exist_ok=True)
    for n in range(FILES):
        (repo / "src" / f"module_{n:02d}.py").write_text("\n".join(module_lines(n, 27)) + "\n")


def change_modules(repo: Path) -> None:
    """Change LINES lines in all across the modules (each file: half as many lines
    replaced, in HUNKS hunks): the work under review."""
    changed_per_file = LINES // FILES // 2  # each replaced line is one deleted, one added
    for n in range(FILES):
        path = repo / "src" / f"module_{n:02d}.py"
        lines = path.read_text().split("\n")
        step = len(lines) // HUNKS
        per_hunk = changed_per_file // HUNKS
        extra = changed_per_file - per_hunk * HUNKS
        for h in range(HUNKS):
            start = h * step + 5
            for k in range(per_hunk + (1 if h < extra else 0)):
                lines[start + k] = lines[start + k] + "  # reviewed"
        path.write_text("\n".join(lines))


def generate(root: Path) -> tuple[Path, str, str]:
    repo = root / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    write_modules(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    change_modules(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "head")
    return repo, base, git(repo, "rev-parse", "HEAD")


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="crewboard-bench-diff-") as tmp:
        repo, base, head = generate(Path(tmp))
        numstat = git(repo, "diff", "--numstat", base, head).splitlines()
        total_lines = sum(int(a) + int(d) for a, d, _ in (row.split("\t") for row in numstat))
        template = get_template("core/_diff.html#diff-page")
        request = RequestFactory().get("/review/", {"view": "split"})
        shown: dict[str, int] = {}

        def render() -> None:
            page = diff_page(repo, base, head, page=1)
            html = template.render(
                {"diff": page, "diff_view": "split", "comment_url": "/review/comment/"},
                request=request,
            )
            shown.update(
                page_files=len(page.files),
                page_lines=sum(f.additions + f.deletions for f in page.files),
                html_kb=len(html) // 1024,
            )

        def cold() -> None:
            cache.clear()
            render()

        def plain() -> None:
            subprocess.run(["git", "diff", base, head], cwd=repo, check=True, capture_output=True)

        render()  # Pygments' lexers and the templates load once per process
        times: dict[str, list[float]] = {"cold": [], "warm": [], "git": []}
        for round_ in range(ROUNDS):
            order = [("git", plain), ("cold", cold), ("warm", render)]
            if round_ % 2:
                order = [order[1], order[2], order[0]]
            for name, action in order:
                times[name].append(timed(action))
        cold_ms = statistics.median(times["cold"])
        warm_ms = statistics.median(times["warm"])
        git_ms = statistics.median(times["git"])
        print(
            json.dumps(
                {
                    "diff_files": FILES,
                    "diff_lines": total_lines,
                    **shown,
                    "diff_render_ms_cold": round(cold_ms, 1),
                    "diff_render_ms_warm": round(warm_ms, 1),
                    "git_diff_ms": round(git_ms, 1),
                    "cold_ratio": round(cold_ms / git_ms, 2),
                    "warm_ratio": round(warm_ms / git_ms, 2),
                    "rounds": ROUNDS,
                    "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
