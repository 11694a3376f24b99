"""Approved work merging into the base branch of a real repository: each strategy, the
user's checkout moved only as a fast-forward would move it (or left alone), conflicts
sent back before anything moves, and what a merge leaves behind."""

import pytest

from agents.models import AgentRun, Checkpoint, DecisionLog, Merge, Workspace
from agents.services import merges, reviews
from core import git
from core.errors import ConflictError
from planning import selectors as planning_selectors
from planning.models import TaskDependency
from tests.agents.reviewing import attempt_in_review
from tests.factories import AgentFactory, TaskFactory
from tests.gitrepos import checkout_fingerprint, make_repo, run_git

pytestmark = pytest.mark.django_db


@pytest.fixture
def repo(tmp_path, settings):
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    return make_repo(tmp_path / "repo", {"README.md": "calc\n", "calc.py": "x = 1\n"})


@pytest.fixture
def merging_project(project, repo):
    project.root_path = str(repo)
    project.status = "active"
    project.save()
    return project


@pytest.fixture
def approve(user, eager_celery, django_capture_on_commit_callbacks):
    """A person approves the task; the merge runs (eagerly) once that commits."""

    def go(task):
        with django_capture_on_commit_callbacks(execute=True):
            reviews.review_submit(task=task, verdict="approve", reviewer=user)
        task.refresh_from_db()
        return Merge.objects.filter(task=task).order_by("-id").first()

    return go


def _attempt(project, repo, tmp_path, key="T1", files=None, **kwargs):
    return attempt_in_review(
        project,
        repo,
        key=key,
        files=files or {"calc.py": "def add(a, b):\n    return a + b\n"},
        worktrees=tmp_path / "worktrees",
        **kwargs,
    )


@pytest.mark.parametrize("strategy", ["squash", "rebase", "merge"])
def test_each_strategy_lands_the_work_and_the_clean_checkout_moves_with_it(
    strategy, merging_project, repo, tmp_path, approve, user
):
    merging_project.merge_strategy = strategy
    merging_project.save()
    before = run_git(repo, "rev-parse", "main")
    task, run = _attempt(merging_project, repo, tmp_path)
    branch_tip = run_git(repo, "rev-parse", run.branch_name)

    merge = approve(task)

    assert merge.status == "merged", merge.message
    head = run_git(repo, "rev-parse", "main")
    assert merge.merge_commit == head == task.merge_commit
    parents = run_git(repo, "log", "-1", "--format=%P", "main").split()
    if strategy == "merge":
        assert parents == [before, branch_tip]
    else:
        assert parents == [before]
    subject = run_git(repo, "log", "-1", "--format=%s", "main")
    if strategy == "rebase":
        assert subject == "T1: the work"  # the agent's own commit, replayed
    else:
        assert subject == "T1: Work on T1"  # the task's key and title
    # The user was on main with a clean tree: their files moved as a fast-forward would.
    assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert run_git(repo, "status", "--porcelain") == ""
    assert task.status == "done" and task.completed_at is not None
    assert task.merged_by == user and task.merged_by_agent is None
    # The worktree went, and the branch too (the project does not keep branches).
    assert not (tmp_path / "worktrees" / "T1").exists()
    assert Workspace.objects.get(run=run).status == "removed"
    assert run.branch_name not in run_git(repo, "branch", "--list")
    assert Checkpoint.objects.filter(project=merging_project, name="merged T1").exists()


def test_a_project_that_keeps_branches_keeps_them(merging_project, repo, tmp_path, approve):
    merging_project.keep_branches = True
    merging_project.save()
    task, run = _attempt(merging_project, repo, tmp_path)
    assert approve(task).status == "merged"
    assert run_git(repo, "branch", "--list", run.branch_name).strip()


def test_local_changes_on_the_base_branch_make_the_merge_wait_and_leave_them_alone(
    merging_project, repo, tmp_path, approve, eager_celery, django_capture_on_commit_callbacks
):
    task, _ = _attempt(merging_project, repo, tmp_path)
    (repo / "README.md").write_text("my own edit, not committed\n")
    before = checkout_fingerprint(repo)

    merge = approve(task)

    assert merge.status == "waiting"
    assert "README.md" in merge.message or "local changes" in merge.message
    assert checkout_fingerprint(repo) == before
    assert task.status == "review"

    # Once the user's tree is clean, the sweep merges it.
    run_git(repo, "checkout", "--", "README.md")
    with django_capture_on_commit_callbacks(execute=True):
        assert merges.merges_waiting_retry() == 1
    merge.refresh_from_db()
    task.refresh_from_db()
    assert merge.status == "merged" and task.status == "done"
    assert run_git(repo, "status", "--porcelain") == ""


def test_a_user_on_another_branch_is_untouched_and_the_base_branch_moves(
    merging_project, repo, tmp_path, approve
):
    run_git(repo, "checkout", "-q", "-b", "my-feature")
    before = checkout_fingerprint(repo)
    task, _ = _attempt(merging_project, repo, tmp_path)
    merge = approve(task)
    assert merge.status == "merged"
    assert checkout_fingerprint(repo) == before
    assert run_git(repo, "show", "main:calc.py").startswith("def add")


def test_a_conflict_sends_the_work_back_to_its_agent_and_nothing_moves(
    merging_project, repo, tmp_path, approve, coding_model
):
    task, run = _attempt(merging_project, repo, tmp_path)
    # Its coder is at other work: the attempt waits for it, rather than run at once.
    run.agent.status = "busy"
    run.agent.save()
    # Someone changes the same line on main after the attempt branched.
    (repo / "calc.py").write_text("x = 2\n")
    run_git(repo, "commit", "-q", "-am", "main moves on")
    before = checkout_fingerprint(repo)
    base_before = run_git(repo, "rev-parse", "main")

    merge = approve(task)

    assert merge.status == "conflicted" and merge.conflicts == ["calc.py"]
    assert run_git(repo, "rev-parse", "main") == base_before
    assert checkout_fingerprint(repo) == before
    run.refresh_from_db()
    assert task.status == "in_progress" and task.qa_iterations == 1
    assert (run.status, run.stage) == ("queued", "coding")
    told = run.payload["feedback"][-1]["content"]
    assert "calc.py" in told and "main" in told


def test_two_approved_tasks_merge_one_after_the_other_each_against_the_new_base(
    merging_project, repo, tmp_path, approve
):
    first, _ = _attempt(merging_project, repo, tmp_path, key="A", files={"a.py": "a = 1\n"})
    second, _ = _attempt(merging_project, repo, tmp_path, key="B", files={"b.py": "b = 1\n"})
    assert approve(first).status == "merged"
    assert approve(second).status == "merged"
    log = run_git(repo, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["B: Work on B", "A: Work on A"]
    assert (repo / "a.py").exists() and (repo / "b.py").exists()


def test_a_branch_deleted_by_hand_fails_the_merge_with_a_reason(
    merging_project, repo, tmp_path, approve
):
    task, run = _attempt(merging_project, repo, tmp_path)
    run_git(repo, "worktree", "remove", "--force", run.worktree_path)
    run_git(repo, "branch", "-D", run.branch_name)
    base_before = run_git(repo, "rev-parse", "main")

    merge = approve(task)

    assert merge.status == "failed"
    assert run.branch_name in merge.message and "no longer exists" in merge.message
    assert run_git(repo, "rev-parse", "main") == base_before
    assert task.status == "review"  # a person decides: request changes or abandon
    assert DecisionLog.objects.filter(task=task, decision__contains="failed").exists()


def test_a_worktree_removed_by_hand_still_merges_what_its_branch_holds(
    merging_project, repo, tmp_path, approve
):
    task, run = _attempt(merging_project, repo, tmp_path)
    run_git(repo, "worktree", "remove", "--force", run.worktree_path)
    assert approve(task).status == "merged"
    assert run_git(repo, "show", "main:calc.py").startswith("def add")


def test_what_merges_is_what_was_approved(merging_project, repo, tmp_path, approve, user):
    task, _ = _attempt(merging_project, repo, tmp_path)
    # Left in the worktree after the review: never reviewed, so never merged.
    (tmp_path / "worktrees" / "T1" / "notes.md").write_text("left behind\n")
    assert approve(task).status == "merged"
    assert "notes.md" not in run_git(repo, "ls-tree", "--name-only", "main")


def test_a_branch_that_moved_after_its_approval_is_not_merged(
    merging_project, repo, tmp_path, user, eager_celery, django_capture_on_commit_callbacks
):
    task, _ = _attempt(merging_project, repo, tmp_path)
    base_before = run_git(repo, "rev-parse", "main")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reviews.review_submit(task=task, verdict="approve", reviewer=user)
    worktree = tmp_path / "worktrees" / "T1"
    (worktree / "late.py").write_text("x = 2\n")
    run_git(worktree, "add", "-A")
    run_git(worktree, "commit", "-qm", "after the approval")
    for callback in callbacks:
        callback()

    merge = Merge.objects.get()
    assert merge.status == "failed" and "moved since it was approved" in merge.message
    assert run_git(repo, "rev-parse", "main") == base_before


def test_a_delivered_again_merge_lands_once(
    merging_project, repo, tmp_path, approve, django_capture_on_commit_callbacks
):
    task, _ = _attempt(merging_project, repo, tmp_path)
    merge = approve(task)
    head = run_git(repo, "rev-parse", "main")
    assert merges.merge_execute(merge_id=merge.pk) is None  # merged: nothing to do
    assert run_git(repo, "rev-parse", "main") == head


def test_merged_work_makes_its_dependents_ready(merging_project, repo, tmp_path, approve):
    task, _ = _attempt(merging_project, repo, tmp_path)
    later = TaskFactory(project=merging_project, key="LATER")
    TaskDependency.objects.create(task=later, depends_on=task)
    assert later not in planning_selectors.task_ready_list(project=merging_project)
    approve(task)
    assert later in planning_selectors.task_ready_list(project=merging_project)


def test_a_merger_agent_is_named_as_the_merger_of_an_agent_approved_task(
    merging_project, repo, tmp_path, eager_celery, django_capture_on_commit_callbacks
):
    merging_project.review = "agent"
    merging_project.save()
    merger = AgentFactory(project=merging_project, name="merger", type="merger")
    reviewer = AgentFactory(project=merging_project, name="reviewer", type="reviewer")
    task, _ = _attempt(merging_project, repo, tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        reviews.review_submit(task=task, verdict="approve", reviewer_agent=reviewer)
    task.refresh_from_db()
    assert task.status == "done"
    assert task.merged_by is None and task.merged_by_agent == merger
    assert AgentRun.objects.filter(agent=merger).count() == 0  # the merge is Crewboard's own


@pytest.mark.parametrize("moves, status", [(1, "merged"), (2, "failed")])
def test_a_base_that_moves_during_the_merge_is_tried_once_more_then_reported(
    moves, status, merging_project, repo, tmp_path, approve, monkeypatch
):
    task, _ = _attempt(merging_project, repo, tmp_path)
    made = git.merge_commit_create
    commits_left = [moves]

    def someone_commits_meanwhile(*args, **kwargs):
        result = made(*args, **kwargs)
        if commits_left[0]:
            commits_left[0] -= 1
            (repo / f"other-{commits_left[0]}.txt").write_text("theirs\n")
            run_git(repo, "add", "-A")
            run_git(repo, "commit", "-qm", "someone else")
        return result

    # Someone else's commit lands between the merge being made and the base moving.
    monkeypatch.setattr(git, "merge_commit_create", someone_commits_meanwhile)

    merge = approve(task)

    assert merge.status == status, merge.message
    if status == "failed":
        assert "moved twice" in merge.message and task.status == "review"
        assert run_git(repo, "log", "-1", "--format=%s", "main") == "someone else"
    else:
        assert run_git(repo, "log", "-2", "--format=%s", "main").splitlines() == [
            "T1: Work on T1",
            "someone else",
        ]
    assert run_git(repo, "status", "--porcelain") == ""


def test_a_later_review_calls_off_a_waiting_merge_but_never_one_under_way(
    merging_project, repo, tmp_path, approve, user
):
    task, run = _attempt(merging_project, repo, tmp_path)
    run.agent.status = "busy"
    run.agent.save()
    (repo / "README.md").write_text("my own edit\n")
    assert approve(task).status == "waiting"
    with pytest.raises(ConflictError, match="approved already"):
        reviews.review_submit(task=task, verdict="approve", reviewer=user)

    reviews.review_submit(task=task, verdict="request_changes", body="one more", reviewer=user)

    merge = Merge.objects.get()
    assert merge.status == "failed" and "Called off" in merge.message
    task.refresh_from_db()
    assert task.status == "in_progress"
    # The sweep finds nothing left to merge.
    assert merges.merges_waiting_retry() == 0


def test_no_verdict_while_a_merge_is_under_way(merging_project, repo, tmp_path, user):
    task, _ = _attempt(merging_project, repo, tmp_path)
    reviews.review_submit(task=task, verdict="approve", reviewer=user)  # queued, not run
    with pytest.raises(ConflictError, match="being merged"):
        reviews.review_submit(task=task, verdict="abandon", reviewer=user)
    assert Merge.objects.get().status == "queued"
    task.refresh_from_db()
    assert task.status == "review"
