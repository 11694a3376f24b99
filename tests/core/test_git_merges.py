"""core.git.merges: a task's branch merged into the base branch in the object store, against
real repositories in tmp_path. The user's checkout is compared byte for byte."""

import shutil
from pathlib import Path

import pytest

from core import git
from tests.gitrepos import checkout_fingerprint, commit_on, make_repo, refs, run_git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

CREWBOARD = git.Identity(name="Crewboard", email="crewboard@example.com")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"README.md": "hello\n", "src/app.py": "x = 1\n"})


def show(repo: Path, rev: str, path: str) -> str:
    return run_git(repo, "show", f"{rev}:{path}")


# Checking ------------------------------------------------------------------------------


def test_a_check_gives_the_tree_git_would_merge_and_reads_no_checkout(repo):
    branch = commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 2\n"})
    base = commit_on(repo, "main", {"README.md": "hello, world\n"})
    (repo / "README.md").write_text("the user's unsaved edit\n")

    check = git.merge_check(repo, base="main", branch="crewboard/T-1-1")

    assert (check.base, check.branch, check.clean) == (base, branch, True)
    assert check.tree == run_git(repo, "merge-tree", "--write-tree", "main", "crewboard/T-1-1")
    assert run_git(repo, "show", f"{check.tree}:src/app.py") == "x = 2"
    assert run_git(repo, "show", f"{check.tree}:README.md") == "hello, world"


def test_a_check_lists_every_conflicting_file_and_moves_nothing(repo):
    commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 2\n", "README.md": "theirs\n"})
    commit_on(repo, "main", {"src/app.py": "x = 3\n", "README.md": "ours\n"})
    before, refs_before = checkout_fingerprint(repo), refs(repo)

    check = git.merge_check(repo, base="main", branch="crewboard/T-1-1")

    assert not check.clean
    assert check.conflicts == ("README.md", "src/app.py")
    assert (checkout_fingerprint(repo), refs(repo)) == (before, refs_before)


def test_branch_head_reads_loose_packed_and_unusual_names_alike(repo):
    plain = commit_on(repo, "crewboard/T-1-1", {"a.txt": "a\n"})
    unusual = commit_on(repo, "fix#12+x", {"b.txt": "b\n"})
    assert git.branch_head(repo, "crewboard/T-1-1") == plain
    assert git.branch_head(repo, "fix#12+x") == unusual
    run_git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "crewboard" / "T-1-1").exists()
    assert git.branch_head(repo, "crewboard/T-1-1") == plain
    assert git.branch_head(repo, "main") == git.rev_parse(repo, "main")
    # A folder of branches is not a branch.
    with pytest.raises(git.BranchNotFound):
        git.branch_head(repo, "crewboard")


def test_a_deleted_branch_is_named_in_a_typed_error(repo):
    commit_on(repo, "crewboard/T-1-1", {"a.txt": "a\n"})
    git.branch_delete(repo, "crewboard/T-1-1")
    with pytest.raises(git.BranchNotFound, match="'crewboard/T-1-1' does not exist") as caught:
        git.merge_check(repo, base="main", branch="crewboard/T-1-1")
    assert isinstance(caught.value, git.GitError)
    with pytest.raises(git.BranchNotFound, match="'trunk'"):
        git.merge_commit_create(repo, base="trunk", branch="main", strategy="squash",
                                message="m")  # fmt: skip


def test_branch_commits_lists_what_the_base_lacks_oldest_first(repo):
    first = commit_on(repo, "crewboard/T-1-1", {"a.txt": "a\n"})
    second = commit_on(repo, "crewboard/T-1-1", {"b.txt": "b\n"})
    commit_on(repo, "main", {"c.txt": "c\n"})
    assert git.branch_commits(repo, base="main", branch="crewboard/T-1-1") == [first, second]


# Making the commits --------------------------------------------------------------------


def parents(repo: Path, commit: str) -> list[str]:
    return run_git(repo, "rev-list", "--parents", "-n1", commit).split()[1:]


def test_a_squash_is_one_commit_on_the_base_with_the_message_and_author(repo):
    commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 2\n"}, "first step")
    commit_on(repo, "crewboard/T-1-1", {"docs/a.md": "a\n", "README.md": None}, "second step")
    base = commit_on(repo, "main", {"other.txt": "o\n"})
    before, refs_before = checkout_fingerprint(repo), refs(repo)

    result = git.merge_commit_create(
        repo, base="main", branch="crewboard/T-1-1", strategy="squash",
        message="T-1-1: Add docs\n\nWhat the task did.", author=git.Identity("Ada", "ada@x.org"),
    )  # fmt: skip

    assert result.changed and result.base == base and result.commits == (result.commit,)
    assert parents(repo, result.commit) == [base]
    assert run_git(repo, "log", "-1", "--format=%B", result.commit) == (
        "T-1-1: Add docs\n\nWhat the task did."
    )
    assert run_git(repo, "log", "-1", "--format=%an <%ae>", result.commit) == "Ada <ada@x.org>"
    assert show(repo, result.commit, "src/app.py") == "x = 2"
    assert show(repo, result.commit, "other.txt") == "o"
    assert run_git(repo, "ls-tree", "--name-only", result.commit, "--", "README.md") == ""
    # Only objects were written: no branch, index or file moved.
    assert (checkout_fingerprint(repo), refs(repo)) == (before, refs_before)


def test_a_merge_commit_has_the_base_and_the_branch_as_parents(repo):
    branch = commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 2\n"})
    base = commit_on(repo, "main", {"other.txt": "o\n"})
    result = git.merge_commit_create(repo, base="main", branch="crewboard/T-1-1",
                                     strategy="merge", message="Merge T-1-1")  # fmt: skip
    assert parents(repo, result.commit) == [base, branch]
    assert run_git(repo, "log", "-1", "--format=%s", result.commit) == "Merge T-1-1"
    assert show(repo, result.commit, "src/app.py") == "x = 2"


def test_a_rebase_replays_each_commit_keeping_its_author_date_and_message(repo):
    commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 2\n"}, "Change x\n\nBecause.",
              author="Ada <ada@x.org>", date="2001-02-03T04:05:06+0100")  # fmt: skip
    commit_on(repo, "crewboard/T-1-1", {"docs/a.md": "a\n"}, "Add docs",
              author="Bo <bo@y.org>", date="2002-03-04T05:06:07-0700")  # fmt: skip
    base = commit_on(repo, "main", {"other.txt": "o\n"})
    originals = git.branch_commits(repo, base="main", branch="crewboard/T-1-1")

    result = git.merge_commit_create(
        repo, base="main", branch="crewboard/T-1-1", strategy="rebase", message="unused",
        committer=CREWBOARD,
    )  # fmt: skip

    assert len(result.commits) == 2 and result.commit == result.commits[-1]
    assert parents(repo, result.commits[0]) == [base]
    assert parents(repo, result.commits[1]) == [result.commits[0]]
    fields = "%an|%ae|%ad|%B|%cn"
    for new, old in zip(result.commits, originals, strict=True):
        kept = run_git(repo, "log", "-1", "--date=raw", f"--format={fields}", new)
        was = run_git(repo, "log", "-1", "--date=raw", f"--format={fields}", old)
        assert kept.rsplit("|", 1)[0] == was.rsplit("|", 1)[0]
        assert kept.endswith("|Crewboard")
    assert show(repo, result.commit, "src/app.py") == "x = 2"
    assert show(repo, result.commit, "other.txt") == "o"


def test_a_rebase_applies_each_commit_against_its_own_parent(repo):
    # The second commit takes back part of the first. Merged from the fork point instead of
    # from its parent, it would change nothing, and the line would stay.
    commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 1\ny = 2\n"}, "add y")
    commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 1\n"}, "drop y")
    commit_on(repo, "main", {"other.txt": "o\n"})
    result = git.merge_commit_create(repo, base="main", branch="crewboard/T-1-1",
                                     strategy="rebase", message="")  # fmt: skip
    assert len(result.commits) == 2
    assert show(repo, result.commit, "src/app.py") == "x = 1"


def test_a_rebase_on_an_unmoved_base_keeps_the_branch_commits_as_they_are(repo):
    tip = commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 2\n"})
    result = git.merge_commit_create(repo, base="main", branch="crewboard/T-1-1",
                                     strategy="rebase", message="")  # fmt: skip
    assert (result.commit, result.commits, result.changed) == (tip, (), True)


def test_a_rebase_drops_a_commit_whose_change_the_base_has_already(repo):
    commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 2\n"}, "same fix")
    commit_on(repo, "crewboard/T-1-1", {"docs/a.md": "a\n"}, "docs")
    base = commit_on(repo, "main", {"src/app.py": "x = 2\n"}, "same fix, made on main")
    result = git.merge_commit_create(repo, base="main", branch="crewboard/T-1-1",
                                     strategy="rebase", message="")  # fmt: skip
    assert len(result.commits) == 1 and parents(repo, result.commit) == [base]
    assert run_git(repo, "log", "-1", "--format=%s", result.commit) == "docs"


@pytest.mark.parametrize("strategy", git.STRATEGIES)
def test_a_conflict_raises_with_the_files_before_anything_moves(repo, strategy):
    commit_on(repo, "crewboard/T-1-1", {"src/app.py": "x = 2\n", "new.txt": "n\n"})
    commit_on(repo, "main", {"src/app.py": "x = 3\n"})
    before, refs_before = checkout_fingerprint(repo), refs(repo)

    with pytest.raises(git.MergeConflict, match=r"conflict.* in src/app\.py") as caught:
        git.branch_merge(repo, base="main", branch="crewboard/T-1-1", strategy=strategy,
                         message="m")  # fmt: skip

    assert caught.value.paths == ["src/app.py"]
    assert bool(caught.value.commit) == (strategy == "rebase")
    assert (checkout_fingerprint(repo), refs(repo)) == (before, refs_before)


@pytest.mark.parametrize("strategy", git.STRATEGIES)
def test_a_branch_with_nothing_new_makes_no_commit(repo, strategy):
    run_git(repo, "branch", "crewboard/T-1-1")
    commit_on(repo, "main", {"other.txt": "o\n"})
    merged = git.branch_merge(repo, base="main", branch="crewboard/T-1-1", strategy=strategy,
                              message="m")  # fmt: skip
    assert not merged.result.changed and merged.result.commits == ()
    assert merged.advance.outcome == "unchanged"


def test_binary_files_in_the_branch_merge_byte_for_byte(repo):
    blob = bytes(range(256)) * 40 + b"\0\xff\0"
    commit_on(repo, "crewboard/T-1-1", {"assets/logo.png": blob})
    commit_on(repo, "main", {"other.txt": "o\n"})
    merged = git.branch_merge(repo, base="main", branch="crewboard/T-1-1", strategy="squash",
                              message="logo")  # fmt: skip
    assert merged.advance.outcome == "fast_forwarded"
    assert (repo / "assets" / "logo.png").read_bytes() == blob


def test_an_unknown_strategy_is_refused(repo):
    commit_on(repo, "crewboard/T-1-1", {"a.txt": "a\n"})
    with pytest.raises(git.MergeError, match="unknown merge strategy 'octopus'"):
        git.merge_commit_create(repo, base="main", branch="crewboard/T-1-1",
                                strategy="octopus", message="m")  # type: ignore[arg-type]  # fmt: skip
