"""core.git.advances: the base branch moved to a merge's result, fast-forwarding the user's
checkout only when it is clean, against real repositories in tmp_path."""

import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core import git
from tests.gitrepos import checkout_fingerprint, commit_on, make_repo, refs, run_git
from tests.hang import HANG_S

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"README.md": "hello\n", "src/app.py": "x = 1\n"})


@pytest.fixture
def squash(repo: Path) -> git.MergeResult:
    """A squash of a branch that edits src/app.py and adds docs/new.md, made, not landed."""
    commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 2\n", "docs/new.md": "new\n"})
    return git.merge_commit_create(repo, base="main", branch="crewboard/T-1-1",
                                   strategy="squash", message="T-1-1")  # fmt: skip


def advance(repo: Path, result: git.MergeResult) -> git.Advance:
    return git.base_advance(repo, base="main", old=result.base, new=result.commit)


def test_a_clean_checkout_on_the_base_is_fast_forwarded(repo, squash):
    (repo / "notes.txt").write_text("the user's untracked notes\n")

    moved = advance(repo, squash)

    assert (moved.outcome, moved.moved, moved.checkout) == ("fast_forwarded", True, repo)
    assert git.branch_head(repo, "main") == squash.commit
    assert (repo / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert (repo / "src" / "app.py").read_text() == "x = 2\n"
    assert (repo / "docs" / "new.md").read_text() == "new\n"
    assert (repo / "notes.txt").read_text() == "the user's untracked notes\n"
    assert run_git(repo, "status", "--porcelain") == "?? notes.txt"
    assert "Crewboard: merge: Fast-forward" in run_git(repo, "reflog", "-1", "main")


def change_tracked(repo: Path) -> None:
    (repo / "README.md").write_text("unsaved\n")


def change_staged(repo: Path) -> None:
    (repo / "README.md").write_text("staged\n")
    run_git(repo, "add", "README.md")


def rename_staged(repo: Path) -> None:
    run_git(repo, "mv", "README.md", "READ ME.md")


@pytest.mark.parametrize(
    ("change", "files"),
    [(change_tracked, ("README.md",)), (change_staged, ("README.md",)),
     (rename_staged, ("READ ME.md",))],
)  # fmt: skip
def test_local_changes_leave_the_checkout_alone_and_say_why(repo, squash, change, files):
    change(repo)
    before, refs_before = checkout_fingerprint(repo), refs(repo)

    waiting = advance(repo, squash)

    assert (waiting.outcome, waiting.moved, waiting.files) == ("waiting", False, files)
    assert waiting.checkout == repo
    assert f"The checkout at {repo} has main checked out with uncommitted changes" in (
        waiting.reason
    )
    assert files[0] in waiting.reason
    assert (checkout_fingerprint(repo), refs(repo)) == (before, refs_before)


@pytest.mark.parametrize("ignored", [False, True])
def test_an_untracked_file_the_merge_would_overwrite_is_kept(repo, squash, ignored):
    (repo / "docs").mkdir()
    (repo / "docs" / "new.md").write_text("the user's own\n")
    if ignored:
        (repo / ".git" / "info" / "exclude").write_text("docs/\n")
    before, refs_before = checkout_fingerprint(repo), refs(repo)

    waiting = advance(repo, squash)

    assert (waiting.outcome, waiting.files) == ("waiting", ("docs/new.md",))
    assert "untracked files where the merge adds files (docs/new.md)" in waiting.reason
    assert (checkout_fingerprint(repo), refs(repo)) == (before, refs_before)


def test_a_checkout_on_another_branch_is_untouched_and_the_ref_moves(repo, squash):
    run_git(repo, "checkout", "-q", "-b", "mine")
    change_tracked(repo)
    before = checkout_fingerprint(repo)

    moved = advance(repo, squash)

    assert (moved.outcome, moved.checkout) == ("ref_moved", None)
    assert git.branch_head(repo, "main") == squash.commit
    assert checkout_fingerprint(repo) == before


def test_another_worktree_on_the_base_is_the_one_fast_forwarded(repo, squash, tmp_path):
    run_git(repo, "checkout", "-q", "-b", "mine")
    before = checkout_fingerprint(repo)
    other = tmp_path / "other"
    run_git(repo, "worktree", "add", "-q", str(other), "main")

    moved = advance(repo, squash)

    assert (moved.outcome, moved.checkout) == ("fast_forwarded", other)
    assert (other / "src" / "app.py").read_text() == "x = 2\n"
    assert run_git(other, "status", "--porcelain") == ""
    assert checkout_fingerprint(repo) == before


@pytest.mark.parametrize("in_worktree", [False, True])
def test_a_rebase_of_the_base_under_way_waits(repo, squash, tmp_path, in_worktree):
    checkout = repo
    if in_worktree:
        run_git(repo, "checkout", "-q", "-b", "mine")
        checkout = tmp_path / "other"
        run_git(repo, "worktree", "add", "-q", str(checkout), "main")
    commit_on(checkout, "upstream", {"README.md": "upstream\n"})
    commit_on(checkout, "main", {"README.md": "local\n"})
    with pytest.raises(subprocess.CalledProcessError):
        run_git(checkout, "rebase", "upstream")  # stops on the conflict, HEAD detached
    before, refs_before = checkout_fingerprint(repo), refs(repo)

    waiting = git.base_advance(repo, base="main", old=git.branch_head(repo, "main"),
                               new=squash.commit)  # fmt: skip

    assert (waiting.outcome, waiting.checkout) == ("waiting", checkout)
    assert f"The checkout at {checkout} is rebasing main" in waiting.reason
    assert (checkout_fingerprint(repo), refs(repo)) == (before, refs_before)


def test_a_base_checked_out_twice_waits(repo, squash, tmp_path):
    run_git(repo, "worktree", "add", "-q", "--force", str(tmp_path / "twice"), "main")
    waiting = advance(repo, squash)
    assert waiting.outcome == "waiting"
    assert "checked out in more than one place" in waiting.reason
    assert git.branch_head(repo, "main") == squash.base


@pytest.mark.parametrize("on_base", [True, False])
def test_a_base_moved_meanwhile_raises_and_nothing_is_half_written(repo, squash, on_base):
    if not on_base:
        run_git(repo, "checkout", "-q", "-b", "mine")
    users = commit_on(repo, "main", {"mine.txt": "mine\n"})
    before, refs_before = checkout_fingerprint(repo), refs(repo)

    with pytest.raises(git.BaseMoved) as caught:
        advance(repo, squash)

    assert (caught.value.expected, caught.value.actual) == (squash.base, users)
    assert "nothing was changed" in caught.value.message
    assert (checkout_fingerprint(repo), refs(repo)) == (before, refs_before)


def test_a_commit_that_does_not_follow_the_base_is_refused(repo):
    run_git(repo, "checkout", "-q", "-b", "mine")
    stray = commit_on(repo, "stray", {"a.txt": "a\n"})
    new_base = commit_on(repo, "main", {"b.txt": "b\n"})
    with pytest.raises(git.MergeError, match="would lose commits"):
        git.base_advance(repo, base="main", old=new_base, new=stray)
    assert git.branch_head(repo, "main") == new_base


def test_two_merges_land_one_after_the_other_the_second_on_the_first(repo):
    commit_on(repo, "crewboard/T-1-1", {"a.txt": "a\n"})
    commit_on(repo, "crewboard/T-2-1", {"b.txt": "b\n"})
    start = git.rev_parse(repo, "main")

    first = git.branch_merge(repo, base="main", branch="crewboard/T-1-1", strategy="squash",
                             message="T-1-1")  # fmt: skip
    second = git.branch_merge(repo, base="main", branch="crewboard/T-2-1", strategy="merge",
                              message="T-2-1")  # fmt: skip

    assert first.result.base == start
    assert second.result.base == first.result.commit
    assert git.branch_head(repo, "main") == second.result.commit
    assert sorted(p.name for p in repo.iterdir() if p.suffix == ".txt") == ["a.txt", "b.txt"]
    assert run_git(repo, "status", "--porcelain") == ""


def test_merges_started_at_once_go_one_after_the_other(repo):
    branches = [f"crewboard/T-{n}-1" for n in range(4)]
    for n, branch in enumerate(branches):
        commit_on(repo, branch, {f"t{n}.txt": f"{n}\n"})

    def merge(branch: str) -> git.Merged:
        return git.branch_merge(repo, base="main", branch=branch, strategy="squash",
                                message=branch)  # fmt: skip

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(merge, branches))

    assert all(merged.advance.outcome == "fast_forwarded" for merged in done)
    history = run_git(repo, "log", "--format=%s", "main").splitlines()
    assert sorted(history[:4]) == sorted(branches) and history[4] == "first"
    assert run_git(repo, "status", "--porcelain") == ""


def test_the_lock_is_taken_again_by_its_own_thread_and_waited_for_by_others(repo):
    order: list[str] = []
    with git.repository_lock(repo):
        with git.repository_lock(repo):  # would wait on itself for ever if not re-entrant
            order.append("nested")

        def wait_then_enter() -> None:
            with git.repository_lock(repo):
                order.append("other")

        other = threading.Thread(target=wait_then_enter)
        other.start()
        other.join(timeout=0.2)
        order.append("released")
    other.join(timeout=HANG_S)
    assert order == ["nested", "released", "other"]
