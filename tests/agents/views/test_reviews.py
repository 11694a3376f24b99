"""A task's review page: the attempt's diff with its checks and earlier reviews, comments
on lines kept as drafts until the verdict, the verdict itself, and who may do what."""

from pathlib import Path

import pytest

from agents.models import Merge, Review, ReviewComment, ToolCall
from core.diffview.pages import line_anchor
from tests.agents.reviewing import attempt_in_review
from tests.agents.views.pages import HTMX, POLLING, messages_of, url
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory
from tests.gitrepos import make_repo, run_git, write_files

pytestmark = pytest.mark.django_db

CALC = "def add(a, b):\n    return a - b\n"


@pytest.fixture
def repo(tmp_path, settings):
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    return make_repo(tmp_path / "repo", {"README.md": "calc\n", "logo.png": "x"})


@pytest.fixture
def in_review(project, repo, tmp_path):
    project.root_path = str(repo)
    project.save()
    return attempt_in_review(
        project, repo, key="T1", files={"calc.py": CALC}, worktrees=tmp_path / "worktrees"
    )


def test_the_page_shows_the_diff_the_checks_and_earlier_reviews(browser, project, in_review, user):
    task, attempt = in_review
    started = ToolCall.objects.create(
        project=project,
        run=attempt,
        tool_name="verify",
        call_id="verify-1",
        input={"command": "make test", "source": "project"},
    )
    ToolCall.objects.create(
        project=project,
        run=attempt,
        tool_name="verify",
        call_id="verify-1",
        started=started,
        status="succeeded",
        output={"exit_code": 0, "output_tail": "4 passed"},
    )
    review = Review.objects.create(
        project=project, task=task, run=attempt, reviewer=user, verdict="request_changes"
    )
    ReviewComment.objects.create(
        review=review, path="calc.py", line=2, line_text="    return a - b", body="Subtracts!"
    )

    page = browser.get(url("task-review", project, "T1"))

    html = page.content.decode()
    assert page.status_code == 200
    assert "calc.py" in html and "return" in html and 'class="pd' in html
    assert "make test" in html and "4 passed" in html
    assert "Subtracts!" in html and "Request changes" in html
    assert 'id="review-approve"' in html
    # The comment sits on its line: it is not outdated.
    assert "Outdated" not in html


def test_a_comment_whose_line_changed_since_shows_as_outdated(browser, project, in_review, user):
    task, attempt = in_review
    review = Review.objects.create(
        project=project, task=task, run=attempt, reviewer=user, verdict="request_changes"
    )
    ReviewComment.objects.create(
        review=review, path="calc.py", line=2, line_text="    return a - b", body="Subtracts!"
    )
    worktree = Path(attempt.worktree_path)
    write_files(worktree, {"calc.py": "def add(a, b):\n    return a + b\n"})
    run_git(worktree, "commit", "-qam", "fixed")

    html = browser.get(url("task-review", project, "T1")).content.decode()

    assert "Subtracts!" in html and "Outdated" in html


def test_line_comments_are_drafts_until_the_verdict_which_writes_them_all(
    browser, project, in_review, user, eager_celery, django_capture_on_commit_callbacks
):
    task, attempt = in_review
    form = browser.get(
        url("review-comment-form", project, "T1"),
        {"path": "calc.py", "side": "new", "line": 2},
        **HTMX,
    )
    assert form.status_code == 200 and 'name="body"' in form.content.decode()

    added = browser.post(
        url("review-comment-add", project, "T1"),
        {"path": "calc.py", "side": "new", "line": 2, "body": "Use +"},
    )
    assert added.status_code == 302
    assert not ReviewComment.objects.exists()  # a draft, in the session
    html = browser.get(url("task-review", project, "T1")).content.decode()
    assert "Use +" in html and "Your draft" in html

    attempt.agent.status = "busy"  # at other work: the attempt waits for it
    attempt.agent.save()
    with django_capture_on_commit_callbacks(execute=True):
        done = browser.post(
            url("review-submit", project, "T1"),
            {"verdict": "request_changes", "body": "One thing"},
            follow=True,
        )
    assert messages_of(done) == [
        "You asked for changes to T1 (1 comment): its agent takes it up again."
    ]
    [comment] = ReviewComment.objects.all()
    assert (comment.path, comment.line, comment.line_text, comment.body) == (
        "calc.py",
        2,
        "    return a - b",
        "Use +",
    )
    assert comment.review.reviewer == user and comment.review.body == "One thing"
    task.refresh_from_db()
    assert task.status == "in_progress"
    # The drafts went with the review.
    assert "Your draft" not in browser.get(url("task-review", project, "T1")).content.decode()


def test_approving_from_the_page_merges_the_work(
    browser, project, in_review, repo, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(url("review-submit", project, "T1"), {"verdict": "approve"})
    page = browser.get(url("task-review", project, "T1"))
    html = page.content.decode()
    assert Merge.objects.get().status == "merged"
    assert "Merge: merged" in html and 'id="review-approve"' not in html
    assert run_git(repo, "show", "main:calc.py").startswith("def add")


def test_a_refused_verdict_keeps_the_drafts_and_writes_nothing(browser, project, in_review):
    task, _ = in_review
    browser.post(
        url("review-comment-add", project, "T1"),
        {"path": "calc.py", "side": "new", "line": 2, "body": "Use +"},
    )
    task.status = "done"
    task.save()
    answer = browser.post(url("review-submit", project, "T1"), {"verdict": "approve"}, follow=True)
    assert any("not waiting for review" in m for m in messages_of(answer))
    assert not Review.objects.exists()


def test_viewers_read_the_page_but_cannot_comment_or_judge(client, viewer, project, in_review):
    client.force_login(viewer)
    html = client.get(url("task-review", project, "T1")).content.decode()
    assert "calc.py" in html and 'id="review-approve"' not in html
    assert 'hx-get="' + url("review-comment-form", project, "T1") not in html
    denied = client.post(url("review-submit", project, "T1"), {"verdict": "approve"})
    assert denied.status_code == 403
    assert (
        client.post(
            url("review-comment-add", project, "T1"),
            {"path": "calc.py", "side": "new", "line": 2, "body": "x"},
        ).status_code
        == 403
    )
    assert not Review.objects.exists()


def test_strangers_get_404(client, other_project, project, in_review):
    client.force_login(other_project.owner)
    assert client.get(url("task-review", project, "T1")).status_code == 404


def test_a_task_without_an_attempt_says_there_is_nothing_to_review(browser, project):
    TaskFactory(project=project, key="T2", status="pending")
    html = browser.get(url("task-review", project, "T2")).content.decode()
    assert "nothing to review" in html


def test_the_page_costs_the_same_queries_however_many_reviews_and_comments(
    browser, project, in_review, user, django_assert_max_num_queries
):
    task, attempt = in_review
    browser.get(url("task-review", project, "T1"))  # warms the diff cache
    for n in range(10):
        review = Review.objects.create(
            project=project, task=task, run=attempt, reviewer=user, verdict="request_changes"
        )
        ReviewComment.objects.bulk_create(
            ReviewComment(review=review, path="calc.py", line=1, body=f"note {n}-{i}")
            for i in range(5)
        )
    with django_assert_max_num_queries(10):
        page = browser.get(url("task-review", project, "T1"))
    assert page.content.decode().count("note ") >= 50


def test_a_deleted_branch_shows_why_there_is_no_diff(browser, project, in_review, repo):
    _, attempt = in_review
    run_git(repo, "worktree", "remove", "--force", attempt.worktree_path)
    run_git(repo, "branch", "-D", attempt.branch_name)
    html = browser.get(url("task-review", project, "T1")).content.decode()
    assert "The diff cannot be read" in html and attempt.branch_name in html
    assert 'id="review-verdict-form"' in html  # a person can still abandon it


def test_a_project_reviewed_by_an_agent_says_what_its_reviewer_is_doing(
    browser, project, in_review
):
    task, attempt = in_review
    project.review = "agent"
    project.save()
    html = browser.get(url("task-review", project, "T1")).content.decode()
    assert "it has none: add one, or review it yourself" in html

    reviewer = AgentFactory(project=project, name="reviewer-1", type="reviewer")
    AgentRunFactory(
        project=project,
        agent=reviewer,
        task=task,
        kind="review",
        status="failed",
        error="model unreachable",
        idempotency_key=f"review-{attempt.pk}-0",
    )
    html = browser.get(url("task-review", project, "T1")).content.decode()
    assert "ended without a verdict: model unreachable" in html


def test_a_queued_merge_is_followed_on_the_page_which_reloads_once_it_has_run(
    browser, project, in_review, repo, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        browser.post(url("review-submit", project, "T1"), {"verdict": "approve"})
    page = browser.get(url("task-review", project, "T1")).content.decode()
    box = page[page.index('id="review-merge"') :]
    assert "Merge: queued" in box and POLLING in box[: box.index(">")]
    assert 'id="review-verdict-form"' not in page  # no second verdict while it is on its way

    polled = browser.get(url("task-review", project, "T1"), HTTP_HX_TARGET="review-merge", **HTMX)
    html = polled.content.decode()
    assert polled.status_code == 200 and "HX-Refresh" not in polled.headers
    assert html.lstrip().startswith('<div class="merge merge--queued" id="review-merge"')
    assert POLLING in html and "review-diff" not in html

    for callback in queued:  # the worker (eager here) merges it
        callback()
    assert Merge.objects.get().status == "merged"
    done = browser.get(url("task-review", project, "T1"), HTTP_HX_TARGET="review-merge", **HTMX)
    assert done.headers["HX-Refresh"] == "true"
    assert "Merge: merged" in browser.get(url("task-review", project, "T1")).content.decode()


def test_work_sent_back_for_changes_says_so_instead_of_nothing_to_review(
    browser, project, in_review, eager_celery
):
    _, attempt = in_review
    attempt.agent.status = "busy"  # at other work: the attempt waits for it
    attempt.agent.save()
    browser.post(url("review-submit", project, "T1"), {"verdict": "request_changes"})

    html = browser.get(url("task-review", project, "T1")).content.decode()

    assert "T1 went back to its agent with alice's review" in html
    assert "nothing to review" not in html and "(an earlier attempt)" not in html


def test_cancel_on_the_comment_form_gets_an_empty_answer(browser, project, in_review):
    form = browser.get(url("review-comment-form", project, "T1"), {"line": 2}, **HTMX)
    assert form.status_code == 200 and form.content == b""


def test_comments_and_verdicts_bring_the_person_back_to_their_view_and_page(
    browser, project, in_review
):
    review_url = url("task-review", project, "T1")
    form = browser.get(
        url("review-comment-form", project, "T1"),
        {"path": "calc.py", "side": "new", "line": 2},
        HTTP_HX_CURRENT_URL=f"http://testserver{review_url}?view=split&ws=ignore&page=1&x=1",
        **HTMX,
    ).content.decode()
    assert '<input type="hidden" name="view" value="split">' in form
    assert '<input type="hidden" name="ws" value="ignore">' in form
    assert 'name="page"' not in form and 'name="x"' not in form  # defaults and junk stay out

    added = browser.post(
        url("review-comment-add", project, "T1"),
        {
            "path": "calc.py",
            "side": "new",
            "line": 2,
            "body": "Use +",
            "view": "split",
            "page": "2",
            "next": "https://elsewhere.example/",
        },
    )
    anchor = line_anchor("calc.py", "new", 2)
    assert added["Location"] == f"{review_url}?view=split&page=2#{anchor}"
    page = browser.get(review_url, {"view": "split"}).content.decode()
    verdict = page[page.index('id="review-verdict-form"') :]
    assert '<input type="hidden" name="view" value="split">' in verdict
    removed = browser.post(url("review-comment-remove", project, "T1", 0), {"view": "unified"})
    assert removed["Location"] == review_url
