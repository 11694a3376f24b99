"""An attempt's diff read ahead when it enters review: the reviewer's first view of the
page then starts no git process and builds no rows, and shows what a page read on the
spot shows. Celery tasks run in this process, against the tests' local-memory cache."""

import re
from html import unescape

import pytest
from django.core.cache import cache

from agents.models import AgentRun
from agents.services import review_diffs, runs
from core import git as core_git
from core.diffview import rows
from planning.models import Task
from tests.agents.reviewing import attempt_in_review
from tests.agents.views.pages import url
from tests.gitrepos import make_repo, run_git

pytestmark = pytest.mark.django_db

# Enough files for two pages of the diff (a page holds 20).
FILES = {f"src/mod_{n:02d}.py": f"def f{n}(x):\n    return x * {n}\n" for n in range(25)}


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def repo(tmp_path, settings, project):
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    repo = make_repo(tmp_path / "repo", {"README.md": "calc\n"})
    project.root_path = str(repo)
    project.save()
    return repo


@pytest.fixture
def at_its_checks(project, repo, tmp_path):
    """A coding attempt whose branch holds its work, at its checks (as the coder's
    finish leaves it)."""
    task, run = attempt_in_review(
        project, repo, key="T1", files=FILES, worktrees=tmp_path / "worktrees"
    )
    AgentRun.objects.filter(pk=run.pk).update(status="running", stage="verifying")
    Task.objects.filter(pk=task.pk).update(status="in_progress")
    return task, run


@pytest.fixture
def git_processes(monkeypatch):
    """The git commands core.git starts (each still runs)."""
    started: list[str] = []
    real = core_git._run

    def counted(args, **kwargs):
        started.append(" ".join(args))
        return real(args, **kwargs)

    monkeypatch.setattr(core_git, "_run", counted)
    return started


@pytest.fixture
def rows_built(monkeypatch):
    """The files whose rows of HTML a view builds (the rest came from the cache)."""
    built: list[str] = []
    real = rows.file_rows_html

    def counted(file, **kwargs):
        built.append(file.path)
        return real(file, **kwargs)

    monkeypatch.setattr(rows, "file_rows_html", counted)
    return built


def _checks_pass(run, capture):
    with capture(execute=True):
        runs.run_verified(run_id=run.pk, passed=True, report="")


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def _without_csrf(html: str) -> str:
    # Each render masks the CSRF token anew.
    return re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+', r"\1", html)


def test_work_that_passes_its_checks_is_read_ahead_for_its_reviewer(
    browser,
    project,
    at_its_checks,
    eager_celery,
    django_capture_on_commit_callbacks,
    git_processes,
    rows_built,
):
    task, run = at_its_checks
    _checks_pass(run, django_capture_on_commit_callbacks)
    task.refresh_from_db()
    assert task.status == "review"
    git_processes.clear()
    rows_built.clear()

    for page in ("1", "2"):
        html = browser.get(url("task-review", project, "T1"), {"page": page}).content.decode()
        assert "Page " + page + " of 2" in html

    assert "return x * 24" in _text(html)
    assert git_processes == []
    assert rows_built == []


def test_the_page_read_ahead_is_the_page_read_on_the_spot(
    browser, project, at_its_checks, eager_celery, django_capture_on_commit_callbacks
):
    _, run = at_its_checks
    _checks_pass(run, django_capture_on_commit_callbacks)
    warmed = browser.get(url("task-review", project, "T1")).content.decode()
    cache.clear()
    on_the_spot = browser.get(url("task-review", project, "T1")).content.decode()

    assert "src/mod_00.py" in warmed and 'class="pl-comment"' in warmed
    assert _without_csrf(warmed) == _without_csrf(on_the_spot)


def test_a_view_without_warming_reads_the_diff_itself(
    browser, project, at_its_checks, git_processes, rows_built
):
    """The counterpart of the first test: what the warming spares a reviewer."""
    task, run = at_its_checks
    AgentRun.objects.filter(pk=run.pk).update(status="succeeded", stage="")
    Task.objects.filter(pk=task.pk).update(status="review")

    html = browser.get(url("task-review", project, "T1")).content.decode()

    assert "return x * 0" in _text(html)
    assert any(" diff " in f" {command} " for command in git_processes)
    assert len(rows_built) == 20


def test_work_no_longer_waiting_for_review_is_not_read(
    project, at_its_checks, eager_celery, django_capture_on_commit_callbacks, git_processes
):
    task, run = at_its_checks
    AgentRun.objects.filter(pk=run.pk).update(status="succeeded", stage="")
    Task.objects.filter(pk=task.pk).update(status="done")

    assert review_diffs.review_diff_warm(run_id=run.pk) == 0
    assert git_processes == []

    Task.objects.filter(pk=task.pk).update(status="review")
    assert review_diffs.review_diff_warm(run_id=run.pk) == 2


def test_a_branch_deleted_meanwhile_leaves_the_page_to_say_why(
    browser, project, repo, at_its_checks, eager_celery, django_capture_on_commit_callbacks
):
    _, run = at_its_checks
    run_git(repo, "worktree", "remove", "--force", run.worktree_path)
    run_git(repo, "branch", "-D", run.branch_name)

    _checks_pass(run, django_capture_on_commit_callbacks)  # the warming does not fail

    run.refresh_from_db()
    assert run.status == "succeeded"
    assert review_diffs.review_diff_warm(run_id=run.pk) == 0
    html = browser.get(url("task-review", project, "T1")).content.decode()
    assert "The diff cannot be read" in html
