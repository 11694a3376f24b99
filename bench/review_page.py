"""What a task's review page costs next to plain git. Prints one JSON object.

A project's repository is generated as bench/review_diff.py makes it: BENCH_DIFF_FILES
(50) Python files of about 300 lines on `main`, and a coding attempt's worktree (made by
`workspace_create`) whose branch changes BENCH_DIFF_LINES (5,000) lines of them. The
attempt's checks pass through the run's owner (`runs.run_verified`), so its task goes to
review as in the product. Then, side by side in one run, alternating the order in each
round:

- `git_diff_ms`: plain `git diff <base> <head>` of the attempt's range, its output read.
- `diff_page_ms_first_view`: GET of the review page (the whole Django stack through the
  test client, logged in as the project's owner, the database migrated) with Django's
  cache emptied first: what a reviewer waits for when nothing read the diff before.
- `diff_page_ms_after_warming`: the cache emptied, then filled by what Crewboard runs in
  the background when an attempt enters review (`review_diffs.review_diff_warm`, timed
  apart as `diff_warm_ms`), then the page: a reviewer's first view in the product.
- `diff_page_ms`: the page again, the cache holding what earlier views read: a later view.

`diff_page_vs_git_diff` is `diff_page_ms` over `git_diff_ms` (target at most 5, and the
page under 300 ms); the first view's ratio is printed too, and `diff_warm_ms`, what the
background warming itself takes. Medians of BENCH_ROUNDS (9) rounds. `git_processes`
counts the git processes each kind of view starts, `queries` the database queries of a
later view. Runs against a throwaway database next to the configured one:

    .venv/bin/python bench/review_page.py
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/review_page.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
# Pages render without collectstatic, as in the tests.
os.environ.setdefault(
    "STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage"
)

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from agents.models import AgentRun  # noqa: E402
from agents.services import agent_create, review_diffs, runs, workspaces  # noqa: E402
from bench import review_diff  # noqa: E402
from config.celery import app as celery_app  # noqa: E402
from planning import services as planning_services  # noqa: E402
from planning.models import Task  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))


def git(cwd: Path | str, *args: str) -> str:
    return str(review_diff.git(Path(cwd), *args))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


@contextmanager
def git_processes() -> Iterator[list[list[str]]]:
    """The first words of every git process started meanwhile."""
    started: list[list[str]] = []
    real = subprocess.Popen.__init__

    def counting(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        if isinstance(args, list) and args and args[0] == "git":
            started.append([str(a) for a in args[1:3]])
        real(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = counting  # type: ignore[method-assign]
    try:
        yield started
    finally:
        subprocess.Popen.__init__ = real  # type: ignore[method-assign]


def attempt_in_review(root: Path) -> tuple[Task, AgentRun]:
    """A project on a generated repository and a coding attempt of one of its tasks, its
    branch changing the modules, whose checks passed: the task is in review."""
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    review_diff.write_modules(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    settings.WORKSPACES_DIR = root / "worktrees"
    owner = get_user_model().objects.create_user("bench-review")
    project = planning_services.project_create(
        owner=owner, name="review page", root_path=str(repo), base_branch="main"
    )
    agent = agent_create(project=project, name="coder", type="coder")
    task = planning_services.task_create(project=project, key="R1", name="Reviewed work")
    run = runs.agent_run_create(project=project, agent=agent, task=task)
    workspace = workspaces.workspace_create(run=run)
    review_diff.change_modules(Path(workspace.path))
    git(workspace.path, "commit", "-q", "-am", "R1: the work")
    # The attempt at its checks, as the coder's finish leaves it; they pass.
    AgentRun.objects.filter(pk=run.pk).update(
        status=AgentRun.Status.RUNNING,
        stage=AgentRun.Stage.VERIFYING,
        branch_name=workspace.branch,
        worktree_path=workspace.path,
    )
    Task.objects.filter(pk=task.pk).update(status=Task.Status.IN_PROGRESS)
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True  # what it enqueues runs here, at once
    try:
        runs.run_verified(run_id=run.pk, passed=True, report="")
    finally:
        celery_app.conf.task_always_eager = was_eager
    task.refresh_from_db()
    run.refresh_from_db()
    assert task.status == Task.Status.REVIEW, task.status
    return task, run


def measure_review_page(_repo: Path | None = None) -> dict[str, Any]:
    """The review page of a 5,000-line diff over 50 files against plain `git diff`: a
    first view, a first view after warming, a later view (see the module's docstring).
    Ignores `_repo` (bench/review.py's merge repository): it makes its own."""
    with tempfile.TemporaryDirectory(prefix="crewboard-bench-review-page-") as tmp:
        task, run = attempt_in_review(Path(tmp))
        return _measure(task, run)


def _measure(task: Task, run: AgentRun) -> dict[str, Any]:
    project = task.project
    repo = project.root_path
    base, head = review_diffs.review_diff_commits(attempt=run, merge=None)
    numstat = git(repo, "diff", "--numstat", base, head).splitlines()
    client = Client(HTTP_HOST="localhost")
    client.force_login(project.owner)
    page = reverse("agents:task-review", args=[project.slug, task.key])
    shown: dict[str, Any] = {}

    def view() -> None:
        answer = client.get(page)
        assert answer.status_code == 200, answer.status_code
        shown["html_kb"] = len(answer.content) // 1024

    def first_view() -> None:
        cache.clear()
        view()

    def warm() -> None:
        cache.clear()
        assert review_diffs.review_diff_warm(run_id=run.pk) == 3

    def plain() -> None:
        subprocess.run(["git", "diff", base, head], cwd=repo, check=True, capture_output=True)

    first_view()  # templates, Pygments' lexers and the URL resolver load once a process
    times: dict[str, list[float]] = {
        name: [] for name in ("git", "first", "warm", "after", "later")
    }
    for round_ in range(ROUNDS):
        # The view after warming follows it, and a later view follows that; git goes
        # first in one round, last in the next.
        order = [("git", plain), ("first", first_view), ("warm", warm), ("after", view),
                 ("later", view)]  # fmt: skip
        if round_ % 2:
            order = order[1:] + order[:1]
        for name, action in order:
            times[name].append(timed(action))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "diff_files": len(numstat),
        "diff_lines": sum(int(a) + int(d) for a, d, _ in (row.split("\t") for row in numstat)),
        **shown,
        "diff_page_ms": round(medians["later"], 1),
        "diff_page_ms_holds": "a view with the cache warm: a later view, or a first one "
        "after the warming Crewboard runs when the attempt enters review",
        "diff_page_ms_first_view": round(medians["first"], 1),
        "diff_page_ms_after_warming": round(medians["after"], 1),
        "diff_warm_ms": round(medians["warm"], 1),
        "git_diff_ms": round(medians["git"], 1),
        "diff_page_vs_git_diff": round(medians["later"] / medians["git"], 2),
        "diff_page_first_view_vs_git_diff": round(medians["first"] / medians["git"], 2),
        **_counts(view, first_view, warm),
        "page_rounds": ROUNDS,
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "database": connection.vendor,
    }


def _counts(
    view: Callable[[], None], first_view: Callable[[], None], warm: Callable[[], None]
) -> dict[str, Any]:
    """The git processes of each kind of view, and the database queries of a view."""
    with git_processes() as first:
        first_view()
    warm()
    with git_processes() as after, CaptureQueriesContext(connection) as queries:
        view()
    # Read now: the next request empties the connection's log.
    query_count = len(queries.captured_queries)
    with git_processes() as later:
        view()
    return {
        "git_processes": {
            "first_view": len(first),
            "after_warming": len(after),
            "later_view": len(later),
        },
        "queries": query_count,
    }


@contextmanager
def throwaway_database() -> Iterator[None]:
    """A database made next to the configured one, migrated, and dropped after."""
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def main() -> None:
    with throwaway_database():
        print(json.dumps(measure_review_page(), indent=2))


if __name__ == "__main__":
    main()
