"""A coding run's page: its log as it grows, the whole log as text, and the diff its
worktree holds so far."""

import pytest

from agents.services.run_logs import RunLogWriter, run_log_append
from tests.agents.views.pages import HTMX, url
from tests.agents.views.run_records import build_run
from tests.factories import ProjectFactory
from tests.gitrepos import make_repo, run_git

pytestmark = pytest.mark.django_db

LOG_POLL = 'hx-trigger="every 2s"'


def _log_lines(run, count: int) -> None:
    with RunLogWriter(run.pk, chunk_chars=256) as writer:
        for n in range(count):
            writer.write("stdout", f"line {n}\n")


def test_a_live_runs_page_shows_the_end_of_its_log_and_polls_for_more(
    browser, project, django_assert_max_num_queries
):
    run = build_run(project, steps=1, status="running", worktree_path="/nowhere")
    _log_lines(run, 5000)
    with django_assert_max_num_queries(25):
        page = browser.get(url("run-detail", project, run.pk))
    html = page.content.decode()
    assert "line 4999\n" in html
    assert "line 0\n" not in html and "Earlier output is in the whole log" in html
    last = run.log_chunks.order_by("-seq").first().seq
    assert f"log/?after={last}" in html

    run_log_append(run_id=run.pk, stream="stderr", text="a warning\n")
    with django_assert_max_num_queries(8):
        poll = browser.get(url("run-log", project, run.pk) + f"?after={last}", **HTMX)
    body = poll.content.decode()
    assert 'hx-swap-oob="beforeend:#run-log-text"' in body
    assert '<span class="log-stderr">a warning\n</span>' in body and "line 4999" not in body
    assert f"log/?after={last + 1}" in body and LOG_POLL in body


def test_polling_stops_once_the_run_has_ended_and_its_log_is_read(browser, project):
    run = build_run(project, steps=1, status="succeeded")
    run_log_append(run_id=run.pk, stream="stdout", text="done\n")
    body = browser.get(url("run-log", project, run.pk) + "?after=0", **HTMX).content.decode()
    assert "done\n" in body and LOG_POLL not in body


def test_the_whole_log_downloads_as_text(browser, project):
    run = build_run(project, steps=1, status="succeeded")
    _log_lines(run, 3000)
    response = browser.get(url("run-log-text", project, run.pk))
    text = b"".join(response.streaming_content).decode()
    assert text == "".join(f"line {n}\n" for n in range(3000))
    assert response["Content-Type"].startswith("text/plain")


def test_the_diff_lists_what_the_worktree_changed_against_its_base(browser, project, tmp_path):
    repo = make_repo(tmp_path / "repo", {"app.py": "a = 1\n", "old.txt": "x\n"})
    worktree = tmp_path / "wt"
    run_git(repo, "worktree", "add", "-q", "-b", "crewboard/T1-1", str(worktree), "main")
    (worktree / "app.py").write_text("a = 2\nb = 3\n")
    (worktree / "new.py").write_text("print('hi')\n")
    (worktree / "old.txt").unlink()
    project.root_path = str(repo)
    project.save()
    run = build_run(project, steps=1, status="running", worktree_path=str(worktree))
    html = browser.get(url("run-diff", project, run.pk), **HTMX).content.decode()
    assert "3 files changed" in html
    for path in ("app.py", "new.py", "old.txt"):
        assert f"<code>{path}</code>" in html
    assert "every 5s" in html  # refreshed while the run is live


def test_a_worktree_on_another_machine_is_said_to_be_there(browser, project):
    run = build_run(
        project, steps=1, status="running", worktree_path="/elsewhere", worker_queue="host.b"
    )
    html = browser.get(url("run-diff", project, run.pk), **HTMX).content.decode()
    assert "not on this machine" in html and "host.b" in html


@pytest.mark.parametrize("name", ["run-log", "run-log-text", "run-diff"])
def test_another_projects_member_gets_404(browser, name):
    stranger = ProjectFactory()
    run = build_run(stranger, steps=1, status="running")
    assert browser.get(url(name, stranger, run.pk)).status_code == 404


def test_a_run_still_making_its_worktree_shows_where_its_changes_will_be(browser, project):
    run = build_run(project, steps=0, status="running", stage="preparing")

    html = browser.get(url("run-detail", project, run.pk)).content.decode()
    assert 'id="run-diff"' in html  # loaded with the page, so it can follow the run

    diff = browser.get(url("run-diff", project, run.pk), **HTMX).content.decode()
    assert "Its worktree is being made and set up." in diff
    assert "every 5s" in diff
