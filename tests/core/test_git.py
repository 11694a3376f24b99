"""core.git against real repositories in tmp_path, with the git on PATH."""

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core import git
from tests.fakes.git_https import GitHttpsServer, publish
from tests.gitrepos import checkout_fingerprint, make_repo, run_git
from tests.hang import HANG_S

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"README.md": "hello\n", "src/app.py": "x = 1\n"})


# Running git ---------------------------------------------------------------------------


def test_git_returns_its_output(repo):
    assert git.git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == "main"


def test_a_failing_command_says_which_and_why(repo):
    with pytest.raises(git.GitError) as caught:
        git.git("checkout", "no-such-branch", cwd=repo)
    assert "git checkout failed in" in caught.value.message
    assert "no-such-branch" in caught.value.message
    assert caught.value.returncode != 0


def test_a_missing_git_is_named(repo, monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(git.GitError, match="git is not installed"):
        git.git("status", cwd=repo)


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(git.GitError, match="nowhere does not exist"):
        git.git("status", cwd=tmp_path / "nowhere")


def test_a_timeout_ends_the_command_and_what_it_started(repo, tmp_path):
    pid_file = tmp_path / "sleep.pid"
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            # The sleep holds git's output open: had it survived, git() would wait for it.
            git.git("-c", f"alias.wait=!echo $$ > {pid_file}; exec sleep 600", "wait",
                    cwd=repo, timeout_s=0.5)  # fmt: skip
        except BaseException as exc:
            errors.append(exc)

    waiting = threading.Thread(target=wait, daemon=True)
    waiting.start()
    waiting.join(timeout=HANG_S)
    assert not waiting.is_alive(), "git() waited for the command's child"
    assert len(errors) == 1 and isinstance(errors[0], git.GitError), errors
    assert "timed out after 0.5 s" in str(errors[0])
    assert _ends(int(pid_file.read_text())), "the command's child outlived the timeout"


def _ends(pid: int) -> bool:
    """Whether process `pid` ends (or is a zombie) within an upper bound for a hang: a
    kill lands asynchronously."""
    for _ in range(400):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_a_git_dir_in_the_environment_does_not_redirect_git(repo, tmp_path, monkeypatch):
    other = make_repo(tmp_path / "other", branch="elsewhere")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert git.git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == "main"


# Reads ---------------------------------------------------------------------------------


def test_is_work_tree(repo, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    run_git(tmp_path, "init", "-q", "--bare", "bare.git")
    assert git.is_work_tree(repo)
    assert git.is_work_tree(repo / "src")
    assert not git.is_work_tree(plain)
    assert not git.is_work_tree(tmp_path / "bare.git")
    assert not git.is_work_tree(tmp_path / "nowhere")


def test_branch_exists_only_for_local_branches(repo):
    run_git(repo, "branch", "dev")
    assert git.branch_exists(repo, "main")
    assert git.branch_exists(repo, "dev")
    assert not git.branch_exists(repo, "release")
    assert not git.branch_exists(repo, "--all")
    assert not git.branch_exists(repo, "")


def test_rev_parse_names_the_commit_or_says_it_names_none(repo):
    assert git.rev_parse(repo, "main") == run_git(repo, "rev-parse", "HEAD")
    with pytest.raises(git.GitError, match="'nope' names no commit"):
        git.rev_parse(repo, "nope")


# Worktrees -----------------------------------------------------------------------------


def test_worktree_add_and_remove_leave_the_users_checkout_untouched(repo, tmp_path):
    (repo / "README.md").write_text("edited, not committed\n")  # the user is mid-work
    (repo / "scratch.txt").write_text("untracked\n")
    run_git(repo, "add", "scratch.txt")
    before = checkout_fingerprint(repo)
    base = git.rev_parse(repo, "main")
    path = tmp_path / "wt" / "run-1"

    git.worktree_add(repo, path, branch="crewboard/T1-1", base=base)
    assert (path / "src" / "app.py").read_text() == "x = 1\n"
    assert (path / "README.md").read_text() == "hello\n"
    assert git.rev_parse(path, "HEAD") == base
    assert git.git("branch", "--show-current", cwd=path) == "crewboard/T1-1"
    (path / "new.txt").write_text("agent's work\n")
    assert checkout_fingerprint(repo) == before

    git.worktree_remove(repo, path)
    assert not path.exists()
    assert git.branch_exists(repo, "crewboard/T1-1")  # the work may still be merged
    assert [w.path for w in git.worktree_list(repo)] == [repo]
    assert checkout_fingerprint(repo) == before


def test_worktree_add_does_not_run_the_users_hooks(repo, tmp_path):
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {repo}/hook-ran\n")
    hook.chmod(0o755)
    git.worktree_add(repo, tmp_path / "wt", branch="b", base="main")
    assert not (repo / "hook-ran").exists()


def test_worktree_add_refuses_an_existing_branch_unless_told_to_reset_it(repo, tmp_path):
    run_git(repo, "branch", "crewboard/T1-1")
    with pytest.raises(git.GitError, match="already exists"):
        git.worktree_add(repo, tmp_path / "a", branch="crewboard/T1-1", base="main")
    assert not (tmp_path / "a").exists()
    git.worktree_add(repo, tmp_path / "a", branch="crewboard/T1-1", base="main", reset_branch=True)
    assert (tmp_path / "a" / "README.md").exists()


def test_worktrees_added_at_once_in_one_repository_all_succeed(repo, tmp_path):
    def add(n: int) -> Path:
        path = tmp_path / "wt" / str(n)
        git.worktree_add(repo, path, branch=f"crewboard/T{n}-1", base="main")
        return path

    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(add, range(8)))

    assert all((path / "README.md").exists() for path in paths)
    assert {w.path for w in git.worktree_list(repo)} == {repo, *paths}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda p: git.worktree_remove(repo, p), paths))
    assert [w.path for w in git.worktree_list(repo)] == [repo]


def test_a_write_waits_for_another_gits_lock(repo, tmp_path):
    lock = repo / ".git" / "refs" / "heads" / "b.lock"
    lock.write_text("")
    threading.Timer(0.3, lock.unlink).start()
    git.worktree_add(repo, tmp_path / "wt", branch="b", base="main")
    assert git.branch_exists(repo, "b")


def test_a_lock_held_for_good_fails_with_gits_message(repo, tmp_path, monkeypatch):
    monkeypatch.setattr(git, "LOCK_WAIT_S", 0.3)
    (repo / ".git" / "refs" / "heads" / "b.lock").write_text("")
    with pytest.raises(git.GitError, match=r"b\.lock.*File exists"):
        git.worktree_add(repo, tmp_path / "wt", branch="b", base="main")


def test_prune_forgets_worktrees_whose_directory_is_gone(repo, tmp_path):
    git.worktree_add(repo, tmp_path / "wt", branch="b", base="main")
    shutil.rmtree(tmp_path / "wt")
    assert [w.prunable for w in git.worktree_list(repo)] == [False, True]
    git.worktree_prune(repo)
    assert [w.path for w in git.worktree_list(repo)] == [repo]


def test_removing_what_is_not_a_worktree_fails_clearly(repo, tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(git.GitError, match="is not a working tree"):
        git.worktree_remove(repo, tmp_path / "plain")


def test_branch_delete(repo):
    run_git(repo, "branch", "gone")
    git.branch_delete(repo, "gone")
    assert not git.branch_exists(repo, "gone")


def test_branch_create_points_a_branch_and_touches_nothing_else(repo):
    first = run_git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("edited, not committed\n")
    run_git(repo, "commit", "-qam", "second")
    (repo / "src" / "app.py").write_text("x = 2\n")  # the user's work in progress
    hook = repo / ".git" / "hooks" / "reference-transaction"
    hook.write_text(f"#!/bin/sh\ntouch {repo}/hook-ran\n")
    hook.chmod(0o755)
    before = checkout_fingerprint(repo)

    git.branch_create(repo, "crewboard/restore-1", first)

    assert git.rev_parse(repo, "refs/heads/crewboard/restore-1") == first
    assert checkout_fingerprint(repo) == before
    assert not (repo / "hook-ran").exists()
    with pytest.raises(git.GitError, match="already exists"):
        git.branch_create(repo, "crewboard/restore-1", "HEAD")


def test_branch_delete_if_at_leaves_a_branch_that_moved(repo):
    first = run_git(repo, "rev-parse", "HEAD")
    run_git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    run_git(repo, "branch", "moved", "HEAD")

    assert not git.branch_delete_if_at(repo, "moved", first)
    assert git.branch_exists(repo, "moved")
    run_git(repo, "branch", "kept-at-first", first)
    assert git.branch_delete_if_at(repo, "kept-at-first", first)
    assert not git.branch_exists(repo, "kept-at-first")


# Diffs ---------------------------------------------------------------------------------


def test_changes_count_committed_uncommitted_and_untracked_files_not_ignored_ones(repo, tmp_path):
    (repo / ".gitignore").write_text("*.log\n")
    run_git(repo, "add", ".gitignore")
    run_git(repo, "commit", "-q", "-m", "ignore logs")
    base = git.rev_parse(repo, "main")
    wt = tmp_path / "wt"
    git.worktree_add(repo, wt, branch="work", base=base)
    (wt / "src" / "app.py").write_text("x = 2\ny = 3\n")
    run_git(wt, "commit", "-q", "-am", "change app")
    (wt / "README.md").write_text("")  # one line removed, not committed
    (wt / "docs").mkdir()
    (wt / "docs" / "new.md").write_text("a\nb\nc\n")  # untracked
    (wt / "debug.log").write_text("noise\n")  # ignored
    status_before = run_git(wt, "status", "--porcelain")

    assert sorted(git.changed_files(wt, base)) == ["README.md", "docs/new.md", "src/app.py"]
    assert git.diff_stat(wt, base) == git.DiffStat(files=3, insertions=5, deletions=2)
    patch = git.diff_text(wt, base)
    assert "+++ b/docs/new.md" in patch
    assert "debug.log" not in patch
    # Reading the diff staged nothing in the worktree's own index.
    assert run_git(wt, "status", "--porcelain") == status_before


def test_an_untouched_worktree_has_no_changes(repo, tmp_path):
    git.worktree_add(repo, tmp_path / "wt", branch="b", base="main")
    assert git.changed_files(tmp_path / "wt", "main") == []
    assert git.diff_stat(tmp_path / "wt", "main") == git.DiffStat(0, 0, 0)


# Cloning -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_clone_a_local_repository(repo, tmp_path, form):
    url = str(repo) if form == "path" else f"file://{repo}"
    dest = tmp_path / "repos" / "crewboard"
    git.clone(url, dest)
    assert (dest / "src" / "app.py").read_text() == "x = 1\n"
    assert git.branch_exists(dest, "main")
    assert list((tmp_path / "repos").iterdir()) == [dest]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "the repository URL is empty"),
        ("ssh://host/repo.git", "only local paths, file:// and https:// URLs"),
        ("git@host:repo.git", "only local paths, file:// and https:// URLs"),
        ("ext::sh -c touch% /tmp/pwned", "only local paths, file:// and https:// URLs"),
        ("relative/repo", "must be given as an absolute path"),
        ("https:///repo.git", "has no host"),
    ],
)
def test_clone_refuses_other_sources(tmp_path, url, message):
    with pytest.raises(git.GitError, match=message):
        git.clone(url, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_a_failed_clone_leaves_nothing_behind(tmp_path):
    (tmp_path / "repos").mkdir()
    with pytest.raises(git.GitError, match=r"could not clone .*nowhere"):
        git.clone(str(tmp_path / "nowhere"), tmp_path / "repos" / "p")
    assert list((tmp_path / "repos").iterdir()) == []


def test_clone_checks_out_the_branch_asked_for(repo, tmp_path):
    run_git(repo, "branch", "dev")
    git.clone(str(repo), tmp_path / "dest", branch="dev")
    assert git.git("branch", "--show-current", cwd=tmp_path / "dest") == "dev"
    assert git.branch_exists(tmp_path / "dest", "dev")


def test_remote_branches(repo):
    run_git(repo, "branch", "dev")
    assert sorted(git.remote_branches(str(repo))) == ["dev", "main"]
    with pytest.raises(git.GitError, match="does not appear to be a git repository"):
        git.remote_branches(str(repo / "nowhere"))


def test_clone_refuses_an_existing_destination(repo, tmp_path):
    (tmp_path / "dest").mkdir()
    with pytest.raises(git.GitError, match="already exists"):
        git.clone(str(repo), tmp_path / "dest")


@pytest.fixture
def https_root(tmp_path: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    root = tmp_path / "served"
    root.mkdir()
    return root


def test_clone_over_https(repo, tmp_path, https_root, monkeypatch):
    publish(repo, https_root, "repo.git")
    with GitHttpsServer(https_root, tmp_path) as server:
        monkeypatch.setenv("GIT_SSL_CAINFO", str(server.ca_file))
        git.clone(f"{server.url}/repo.git", tmp_path / "dest")
    assert (tmp_path / "dest" / "src" / "app.py").read_text() == "x = 1\n"


def test_a_missing_https_repository_fails_and_leaves_nothing(tmp_path, https_root, monkeypatch):
    (tmp_path / "repos").mkdir()
    with GitHttpsServer(https_root, tmp_path) as server:
        monkeypatch.setenv("GIT_SSL_CAINFO", str(server.ca_file))
        with pytest.raises(git.GitError, match=r"could not clone https://.*missing\.git"):
            git.clone(f"{server.url}/missing.git", tmp_path / "repos" / "p")
    assert list((tmp_path / "repos").iterdir()) == []


def test_an_untrusted_certificate_is_refused(repo, tmp_path, https_root):
    publish(repo, https_root, "repo.git")
    with (
        GitHttpsServer(https_root, tmp_path) as server,
        pytest.raises(git.GitError, match="certificate"),
    ):
        git.clone(f"{server.url}/repo.git", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_a_clone_that_hangs_times_out_and_leaves_nothing(tmp_path, https_root, monkeypatch):
    (tmp_path / "repos").mkdir()
    with GitHttpsServer(https_root, tmp_path, hang=True) as server:
        monkeypatch.setenv("GIT_SSL_CAINFO", str(server.ca_file))
        with pytest.raises(git.GitError, match="timed out after 1 s"):
            git.clone(f"{server.url}/repo.git", tmp_path / "repos" / "p", timeout_s=1)
    assert list((tmp_path / "repos").iterdir()) == []
