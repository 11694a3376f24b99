"""Path confinement and sandbox mounts on real folders and git worktrees."""

import subprocess

import pytest

from agents.workspaces.paths import (
    PathError,
    read_text,
    worktree_file,
    worktree_mounts,
    write_text,
)


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_a_folder_that_is_not_a_repository_may_only_write_itself(tmp_path):
    assert worktree_mounts(tmp_path) == ([tmp_path.resolve()], [])


def test_a_linked_worktree_writes_the_repository_but_not_its_config_hooks_or_pointers(tmp_path):
    repo, linked = tmp_path / "repo", tmp_path / "linked"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(
        repo,
        "-c",
        "user.name=a",
        "-c",
        "user.email=a@b",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    git(repo, "worktree", "add", "-q", "-b", "work", str(linked))
    writable, read_only = worktree_mounts(linked)
    git_dir = repo.resolve() / ".git"
    assert writable == [linked.resolve(), git_dir]
    assert set(read_only) == {
        git_dir / "config",
        git_dir / "hooks",
        git_dir / "worktrees" / "linked" / "commondir",
        git_dir / "worktrees" / "linked" / "gitdir",
        linked.resolve() / ".git",
        # The user's checkout: its index, HEAD and the branch it has checked out.
        git_dir / "index",
        git_dir / "HEAD",
        git_dir / "refs" / "heads" / "main",
    }


def test_the_root_is_only_a_path_when_asked_for(tmp_path):
    with pytest.raises(PathError, match="the path is empty"):
        worktree_file(tmp_path, ".")
    assert worktree_file(tmp_path, "./", allow_root=True) == tmp_path.resolve()
    with pytest.raises(PathError, match="NUL"):
        worktree_file(tmp_path, "a\x00b")


def test_writes_are_whole_and_keep_the_file_mode(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert write_text(script, "#!/bin/sh\necho hi\n", name="run.sh") is False
    assert script.stat().st_mode & 0o777 == 0o755
    assert read_text(script, name="run.sh") == "#!/bin/sh\necho hi\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.sh"]  # no temporary file left
    with pytest.raises(PathError, match="does not exist"):
        read_text(tmp_path / "missing.txt", name="missing.txt")


def test_a_command_cannot_touch_the_users_index_head_or_branch(tmp_path):
    import subprocess

    from agents.workspaces import commands
    from agents.workspaces.paths import worktree_mounts
    from tests.gitrepos import checkout_fingerprint, make_repo, run_git

    if not commands.sandbox_available():
        pytest.skip("bubblewrap not available: commands run unconfined")
    repo = make_repo(tmp_path / "repo")
    worktree = tmp_path / "wt"
    run_git(repo, "worktree", "add", "-q", "-b", "crewboard/T1-1", str(worktree), "main")
    before = checkout_fingerprint(repo)
    writable, read_only = worktree_mounts(worktree)
    git_dir = repo / ".git"
    script = (
        f"echo x > {git_dir}/index; echo 'ref: refs/heads/evil' > {git_dir}/HEAD; "
        f"echo 0000 > {git_dir}/refs/heads/main; "
        "git -c user.name=a -c user.email=a@b commit -q --allow-empty -m mine"
    )
    result = commands.command_run(
        ["sh", "-c", script],
        cwd=worktree,
        timeout_s=60,
        allow_network=False,
        writable=writable,
        read_only=read_only,
    )
    assert result.confined
    assert checkout_fingerprint(repo) == before
    assert (git_dir / "refs" / "heads" / "main").read_text() == before["head_commit"] + "\n"
    # The agent's own branch still takes its commit.
    log = subprocess.run(
        ["git", "log", "-1", "--format=%s", "crewboard/T1-1"], cwd=repo, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert log.stdout.strip() == "mine"
