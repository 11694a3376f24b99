"""Reviews of verified work: a person's line comments reaching the coder's next step, a
reviewer agent's verdict and comments, the project's review setting, and the QA limit.
The model is the loopback fake OpenAI server; Celery tasks run in this process."""

import sys

import pytest

from agents import selectors
from agents import services as agent_services
from agents.models import AgentRun, Merge, Review, ReviewComment
from agents.services import orchestrator, reviews
from core.errors import ConflictError
from tests.agents.external_agents import agent_client
from tests.agents.reviewing import attempt_in_review
from tests.factories import AgentFactory, TaskFactory
from tests.fakes.openai_server import completion, tool_call
from tests.gitrepos import make_repo, run_git

pytestmark = pytest.mark.django_db

CODE_TOOLS = ["read_file", "write_file", "edit_file", "list_files", "run_command", "git_commit"]


@pytest.fixture
def repo(tmp_path, settings):
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    return make_repo(tmp_path / "repo", {"README.md": "calc\n"})


@pytest.fixture
def coding_project(project, repo):
    project.root_path = str(repo)
    project.enabled_tools = CODE_TOOLS
    project.verify_command = f"{sys.executable} -c pass"
    project.save()
    return project


def _in_review(project, repo, tmp_path, files=None):
    """Task T1 waiting for review, its attempt's branch holding `files`."""
    return attempt_in_review(
        project,
        repo,
        key="T1",
        files=files or {"calc.py": "x = 1\n"},
        worktrees=tmp_path / "worktrees",
    )


def _write(call_id, path, content):
    return tool_call(call_id, "write_file", {"path": path, "content": content})


def _finish(call_id, summary):
    return tool_call(call_id, "finish", {"summary": summary})


def test_a_persons_line_comments_reach_the_coders_next_step_and_approval_merges_it(
    coding_project, repo, fake_llm, eager_celery, django_capture_on_commit_callbacks, api, user
):
    task = TaskFactory(project=coding_project, key="T1", name="Add numbers")
    coder = AgentFactory(project=coding_project, name="coder-1", type="coder")
    fake_llm.script(
        completion(None, tool_calls=[_write("w1", "calc.py", "def add(a, b):\n    return a+b\n")]),
        completion(None, tool_calls=[tool_call("g1", "git_commit", {"message": "add()"})]),
        completion(None, tool_calls=[_finish("f1", "add()")]),
    )
    with django_capture_on_commit_callbacks(execute=True):
        [run] = orchestrator.project_run_start(project=coding_project)
    task.refresh_from_db()
    assert task.status == "review" and task.coded_by == coder

    fake_llm.script(
        completion(
            None,
            tool_calls=[
                tool_call(
                    "e1", "edit_file", {"path": "calc.py", "old_text": "a+b", "new_text": "a + b"}
                ),
                tool_call("g2", "git_commit", {"message": "spaces"}),
            ],
        ),
        completion(None, tool_calls=[_finish("f2", "spaced out")]),
    )
    url = f"/api/v1/projects/{coding_project.slug}/tasks/T1/review/"
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(
            url,
            {
                "verdict": "request_changes",
                "body": "Nearly there.",
                "comments": [{"path": "calc.py", "line": 2, "body": "Spaces around +, please."}],
            },
            format="json",
        )
    assert answer.status_code == 201, answer.content
    review = Review.objects.get(task=task)
    assert (review.reviewer, review.verdict) == (user, "request_changes")
    [comment] = review.comments.all()
    assert (comment.path, comment.line, comment.line_text) == ("calc.py", 2, "    return a+b")

    # The coder's next step was told the comment, with the line it is about.
    told = [m for m in fake_llm.requests[3].json["messages"] if m["role"] == "user"][-1]
    assert "Spaces around +, please." in told["content"]
    assert "calc.py:2" in told["content"] and "return a+b" in told["content"]
    run.refresh_from_db()
    task.refresh_from_db()
    assert run.status == "succeeded" and task.status == "review" and task.qa_iterations == 1

    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(url, {"verdict": "approve"}, format="json")
    # The answer is written before the merge runs, once the review has committed.
    assert answer.status_code == 201 and answer.json()["merge"]["status"] == "queued"
    assert api.get(url).json()["merge"]["status"] == "merged"
    task.refresh_from_db()
    assert task.status == "done" and task.merged_by == user and task.coded_by == coder
    assert run_git(repo, "show", "main:calc.py") == "def add(a, b):\n    return a + b"

    listed = api.get(url).json()
    assert [r["verdict"] for r in listed["reviews"]] == ["approve", "request_changes"]
    assert listed["reviews"][1]["comments"][0]["body"] == "Spaces around +, please."


def _reviewer_says(fake_llm, verdict, comments=()):
    fake_llm.script(
        completion(None, tool_calls=[tool_call("d1", "git_diff", {})]),
        completion(
            None,
            tool_calls=[
                tool_call(
                    "r1",
                    "review_submit",
                    {"verdict": verdict, "summary": "looked at it", "comments": list(comments)},
                )
            ],
        ),
    )


def test_a_reviewer_agents_line_comments_are_stored_and_send_the_work_back(
    coding_project, repo, tmp_path, fake_llm, eager_celery, django_capture_on_commit_callbacks
):
    coding_project.review = "agent"
    coding_project.status = "active"
    coding_project.save()
    task, attempt = _in_review(
        coding_project, repo, tmp_path, files={"calc.py": "def add(a, b):\n    return a - b\n"}
    )
    reviewer = AgentFactory(project=coding_project, name="reviewer-1", type="reviewer")
    _reviewer_says(
        fake_llm, "request_changes", [{"path": "calc.py", "line": 2, "body": "This subtracts."}]
    )
    # The coder, busy elsewhere, takes the work up again once it is free.
    attempt.agent.status = "busy"
    attempt.agent.save()
    with django_capture_on_commit_callbacks(execute=True):
        [review_run] = orchestrator.dispatch(project=coding_project)

    review_run.refresh_from_db()
    assert (review_run.kind, review_run.status, review_run.agent) == (
        "review",
        "succeeded",
        reviewer,
    )
    assert review_run.worktree_path == attempt.worktree_path
    review = Review.objects.get(task=task)
    assert (review.reviewer_agent, review.verdict) == (reviewer, "request_changes")
    assert review.head_commit == run_git(repo, "rev-parse", attempt.branch_name)
    [comment] = ReviewComment.objects.filter(review=review)
    assert (comment.path, comment.line, comment.line_text) == ("calc.py", 2, "    return a - b")
    # The reviewer read the diff with its tools, and had no tool to change code.
    offered = {t["function"]["name"] for t in fake_llm.requests[0].json["tools"]}
    assert "review_submit" in offered and not {"write_file", "edit_file", "finish"} & offered
    attempt.refresh_from_db()
    task.refresh_from_db()
    assert (attempt.status, attempt.stage) == ("queued", "coding")
    assert task.status == "in_progress" and task.qa_iterations == 1
    # Reviewed once per round: dispatching again starts no second review.
    reviewer.refresh_from_db()
    assert reviewer.status == "idle"
    assert AgentRun.objects.filter(kind="review").count() == 1


def test_agent_then_human_waits_for_a_person_after_the_agent_approves(
    coding_project,
    repo,
    tmp_path,
    fake_llm,
    eager_celery,
    django_capture_on_commit_callbacks,
    user,
):
    coding_project.review = "agent_then_human"
    coding_project.status = "active"
    coding_project.save()
    task, _ = _in_review(coding_project, repo, tmp_path)
    AgentFactory(project=coding_project, name="reviewer-1", type="reviewer")
    _reviewer_says(fake_llm, "approve")
    with django_capture_on_commit_callbacks(execute=True):
        orchestrator.dispatch(project=coding_project)
    task.refresh_from_db()
    assert task.status == "review" and not Merge.objects.exists()
    assert Review.objects.get().verdict == "approve"

    with django_capture_on_commit_callbacks(execute=True):
        reviews.review_submit(task=task, verdict="approve", reviewer=user)
    task.refresh_from_db()
    assert task.status == "done"


def test_a_human_review_project_starts_no_reviewer(coding_project, repo, tmp_path, coding_model):
    coding_project.status = "active"
    coding_project.save()
    _in_review(coding_project, repo, tmp_path)
    AgentFactory(project=coding_project, name="reviewer-1", type="reviewer")
    assert orchestrator.dispatch(project=coding_project) == []


def test_changes_requested_past_the_qa_limit_block_the_task_for_a_person(
    coding_project, repo, tmp_path, user, coding_model
):
    coding_project.max_qa_iterations = 1
    coding_project.save()
    task, attempt = _in_review(coding_project, repo, tmp_path)
    reviews.review_submit(task=task, verdict="request_changes", body="no", reviewer=user)
    task.refresh_from_db()
    attempt.refresh_from_db()
    assert task.status == "blocked" and attempt.status == "succeeded"
    assert task in selectors.task_blocked_after_checks_list(project=coding_project)


def test_abandoning_cancels_the_task_and_removes_its_worktree(coding_project, repo, tmp_path, user):
    task, attempt = _in_review(coding_project, repo, tmp_path)
    reviews.review_submit(task=task, verdict="abandon", body="not needed", reviewer=user)
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert not (tmp_path / "worktrees" / "T1").exists()
    assert run_git(repo, "branch", "--list", attempt.branch_name).strip()  # the work is kept


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"verdict": "ship-it"}, "verdict"),
        ({"verdict": "approve", "comments": [{"path": "a.py", "line": 0, "body": "x"}]}, "line"),
        ({"verdict": "approve", "comments": [{"path": "a.py", "line": 1, "body": ""}]}, "body"),
        ({"verdict": "approve", "comments": [{"line": 1, "body": "x"}]}, "path"),
    ],
)
def test_bad_reviews_are_refused_and_nothing_is_written(
    coding_project, repo, tmp_path, api, payload, message
):
    task, _ = _in_review(coding_project, repo, tmp_path)
    answer = api.post(
        f"/api/v1/projects/{coding_project.slug}/tasks/T1/review/", payload, format="json"
    )
    assert answer.status_code == 400 and message in answer.content.decode()
    assert not Review.objects.exists() and not Merge.objects.exists()
    task.refresh_from_db()
    assert task.status == "review"


def test_reviewing_a_task_that_is_not_in_review_is_a_conflict(coding_project, api):
    TaskFactory(project=coding_project, key="T1", status="pending")
    answer = api.post(
        f"/api/v1/projects/{coding_project.slug}/tasks/T1/review/",
        {"verdict": "approve"},
        format="json",
    )
    assert answer.status_code == 409 and "not waiting for review" in answer.json()["detail"]
    assert not Review.objects.exists()


def test_only_members_see_and_only_writers_give_reviews(
    coding_project, other_project, viewer_api, api
):
    TaskFactory(project=other_project, key="T9", status="review")
    assert api.get(f"/api/v1/projects/{other_project.slug}/tasks/T9/review/").status_code == 404
    TaskFactory(project=coding_project, key="T1", status="review")
    url = f"/api/v1/projects/{coding_project.slug}/tasks/T1/review/"
    assert viewer_api.get(url).status_code == 200
    assert viewer_api.post(url, {"verdict": "approve"}, format="json").status_code == 403
    assert api.get(f"/api/v1/projects/{coding_project.slug}/tasks/NOPE/review/").status_code == 404


def test_an_external_agents_branch_is_reviewed_and_the_next_claim_carries_the_comments(
    coding_project, repo, api, eager_celery, django_capture_on_commit_callbacks
):
    coding_project.status = "active"
    coding_project.save()
    agent = AgentFactory(project=coding_project, name="claude-1", type="external")
    worker = agent_client(agent_services.agent_key_issue(agent=agent).key)
    TaskFactory(project=coding_project, key="T1", name="Add numbers")
    base = f"/api/v1/projects/{coding_project.slug}"

    first = worker.post(f"{base}/tasks/claim/", {}, format="json").json()
    assert first["review_feedback"] == ""
    run_git(repo, "branch", "claude/T1")
    (repo / "calc.py").write_text("x = 1\n")
    run_git(repo, "checkout", "-q", "claude/T1")
    run_git(repo, "add", "calc.py")
    run_git(repo, "commit", "-qm", "calc")
    run_git(repo, "checkout", "-q", "main")
    # A branch the repository lacks is refused, and the run stays open.
    refused = worker.post(
        f"{base}/runs/{first['run']['id']}/complete/",
        {"attempt": 1, "branch": "no-such-branch"},
        format="json",
    )
    assert refused.status_code == 400 and "no-such-branch" in refused.content.decode()
    done = worker.post(
        f"{base}/runs/{first['run']['id']}/complete/",
        {"attempt": 1, "branch": "claude/T1"},
        format="json",
    )
    assert done.status_code == 200 and done.json()["task"]["status"] == "review"

    api.post(
        f"{base}/tasks/T1/review/",
        {
            "verdict": "request_changes",
            "comments": [{"path": "calc.py", "line": 1, "body": "Call it y."}],
        },
        format="json",
    )
    second = worker.post(f"{base}/tasks/claim/", {}, format="json").json()
    assert second["task"]["key"] == "T1" and second["run"]["attempt"] == 2
    assert "Call it y." in second["review_feedback"] and "calc.py:1" in second["review_feedback"]

    worker.post(
        f"{base}/runs/{second['run']['id']}/complete/",
        {"attempt": 2, "branch": "claude/T1"},
        format="json",
    )
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"{base}/tasks/T1/review/", {"verdict": "approve"}, format="json")
    assert api.get(f"{base}/tasks/T1/review/").json()["merge"]["status"] == "merged"
    assert run_git(repo, "show", "main:calc.py") == "x = 1"


def test_work_sent_back_to_a_busy_agent_resumes_when_it_is_free_without_taking_a_slot(
    coding_project, repo, tmp_path, user, coding_model
):
    coding_project.status = "active"
    coding_project.max_concurrent_runs = 1
    coding_project.save()
    task, attempt = _in_review(coding_project, repo, tmp_path)
    coder = attempt.agent
    coder.status = "busy"  # at work on another task
    coder.save()
    reviews.review_submit(task=task, verdict="request_changes", body="again", reviewer=user)
    attempt.refresh_from_db()
    assert attempt.status == "queued"

    coder.status = "idle"  # its other run ended
    coder.save()
    [resumed] = orchestrator.dispatch(project=coding_project)

    assert resumed.pk == attempt.pk and resumed.status == "running"
    coder.refresh_from_db()
    assert coder.status == "busy"


def test_a_reviewer_with_a_coding_cli_is_passed_over_and_coders_still_get_work(
    coding_project, repo, tmp_path, coding_model
):
    coding_project.status = "active"
    coding_project.review = "agent"
    coding_project.save()
    _in_review(coding_project, repo, tmp_path)
    AgentFactory(project=coding_project, name="cli-reviewer", type="reviewer", executor="codex")
    TaskFactory(project=coding_project, key="T2")
    AgentFactory(project=coding_project, name="coder-2", type="coder")

    started = orchestrator.dispatch(project=coding_project)

    assert [(run.agent.name, run.task.key) for run in started] == [("coder-2", "T2")]


def test_a_reviewer_agents_verdict_on_a_round_that_has_passed_is_refused(
    coding_project, repo, tmp_path, user
):
    task, attempt = _in_review(coding_project, repo, tmp_path)
    reviewer = AgentFactory(project=coding_project, name="reviewer-1", type="reviewer")
    started_for = reviews.review_run_key(attempt.pk, task.qa_iterations)
    task.qa_iterations = 1  # a person sent it back meanwhile, and it came back for review
    task.save()
    with pytest.raises(ConflictError, match="changed since this review began"):
        reviews.review_submit(
            task=task, verdict="approve", reviewer_agent=reviewer, round_key=started_for
        )
    assert not Review.objects.exists()
