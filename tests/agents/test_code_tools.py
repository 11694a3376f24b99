"""The coding tools on real git repositories and worktrees (sandboxed where bwrap is)."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from agents.tools import ToolContext, ToolError, registry
from agents.workspaces import commands
from agents.workspaces.paths import MAX_FILE_BYTES
from tests.factories import AgentFactory, AgentRunFactory
from tests.hang import HANG_S

pytestmark = pytest.mark.django_db

CODE_TOOLS = [
    "read_file",
    "write_file",
    "edit_file",
    "list_files",
    "search_code",
    "run_command",
    "git_diff",
    "git_commit",
]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    """The user's checkout: a repository on main with a commit, a .gitignore and a
    change of the user's own that no tool may touch."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Owner")
    git(root, "config", "user.email", "owner@example.com")
    (root / "README.md").write_text("# Demo\n")
    (root / "app.py").write_text("def greet():\n    return 'hello'\n\n\ndef wave():\n    pass\n")
    (root / ".gitignore").write_text("ignored.txt\nbuild/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Start")
    (root / "README.md").write_text("# Demo\n\nThe owner's own edit, not committed.\n")
    return root


@pytest.fixture
def worktree(repo, tmp_path) -> Path:
    path = tmp_path / "worktrees" / "run-1"
    git(repo, "worktree", "add", "-q", "-b", "crewboard/T-1-1", str(path), "main")
    return path


@pytest.fixture
def context(project, repo, worktree) -> ToolContext:
    project.root_path = str(repo)
    project.base_branch = "main"
    project.enabled_tools = CODE_TOOLS
    project.save()
    agent = AgentFactory(project=project, name="coder-7")
    run = AgentRunFactory(agent=agent, project=project, status="running")
    run.worktree_path = str(worktree)
    return ToolContext(project=project, agent=agent, run=run, task=None, step=1)


def call(context: ToolContext, name: str, **arguments):
    """Through the schema check, as the runtime calls it."""
    tool = registry.get(name)
    return tool.handler(context, tool.parse_arguments(json.dumps(arguments)))


def test_code_tools_are_registered_with_their_risk_and_off_by_default(project):
    risks = {name: registry.get(name).risk for name in CODE_TOOLS}
    assert risks == {
        "read_file": "medium",
        "list_files": "medium",
        "search_code": "medium",
        "git_diff": "medium",
        "write_file": "high",
        "edit_file": "high",
        "run_command": "high",
        "git_commit": "high",
    }
    assert not set(CODE_TOOLS) & {t.name for t in registry.for_project(project)}


def test_a_run_without_a_worktree_is_told_so(context, project):
    context.run.worktree_path = ""
    with pytest.raises(ToolError, match="this run has no worktree"):
        call(context, "read_file", path="README.md")
    context.run.worktree_path = project.root_path
    with pytest.raises(ToolError, match="project's own checkout"):
        call(context, "write_file", path="x.txt", content="x")


def test_read_file_whole_and_by_lines(context):
    whole = call(context, "read_file", path="app.py")
    assert whole["content"].startswith("def greet():\n") and whole["total_lines"] == 6
    part = call(context, "read_file", path="app.py", start_line=2, end_line=2)
    assert part == {
        "path": "app.py",
        "start_line": 2,
        "end_line": 2,
        "total_lines": 6,
        "truncated": False,
        "content": "    return 'hello'\n",
    }
    with pytest.raises(ToolError, match=r"past the end: app\.py has 6 lines"):
        call(context, "read_file", path="app.py", start_line=40)


def test_paths_that_escape_the_worktree_are_refused(context, worktree, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read\n")
    (worktree / "escape").symlink_to(tmp_path)
    (worktree / "secret-link").symlink_to(secret)
    (worktree / "git-link").symlink_to(worktree / ".git")
    refusals = {
        "../secret.txt": "contains '..'",
        "src/../../secret.txt": "contains '..'",
        str(secret): "absolute path",
        "escape/secret.txt": "leads outside the worktree",
        "secret-link": "leads outside the worktree",
        ".git/config": "inside .git",
        "git-link": "leads into .git",
    }
    for path, message in refusals.items():
        with pytest.raises(ToolError, match=re.escape(message)):
            call(context, "read_file", path=path)
        with pytest.raises(ToolError, match=re.escape(message)):
            call(context, "write_file", path=path, content="overwritten\n")
    assert secret.read_text() == "do not read\n"
    # A symlink that stays inside is fine.
    (worktree / "inner-link").symlink_to("app.py")
    assert call(context, "read_file", path="inner-link")["content"].startswith("def greet")
    with pytest.raises(ToolError, match=r"contains '\.\.'"):
        call(context, "list_files", path="..")
    with pytest.raises(ToolError, match="absolute path"):
        call(context, "run_command", argv=["true"], cwd="/")


def test_binary_and_oversize_files_are_refused(context, worktree):
    (worktree / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (worktree / "latin1.txt").write_bytes(b"caf\xe9\n")
    (worktree / "huge.txt").write_text("x" * (MAX_FILE_BYTES + 1))
    with pytest.raises(ToolError, match="binary file"):
        call(context, "read_file", path="logo.png")
    with pytest.raises(ToolError, match="not UTF-8 text"):
        call(context, "edit_file", path="latin1.txt", old_text="caf", new_text="tea")
    with pytest.raises(ToolError, match="over the 1000000-byte limit"):
        call(context, "read_file", path="huge.txt")
    with pytest.raises(ToolError, match="over the 1000000-byte limit"):
        call(context, "write_file", path="new.txt", content="y" * (MAX_FILE_BYTES + 1))
    assert not (worktree / "new.txt").exists()


def test_write_file_creates_folders_and_overwrites(context, worktree):
    assert call(context, "write_file", path="src/pkg/mod.py", content="A = 1\n")["created"]
    assert (worktree / "src/pkg/mod.py").read_text() == "A = 1\n"
    again = call(context, "write_file", path="src/pkg/mod.py", content="A = 2\n")
    assert again == {"path": "src/pkg/mod.py", "created": False, "bytes": 6}
    assert (worktree / "src/pkg/mod.py").read_text() == "A = 2\n"
    with pytest.raises(ToolError, match="is a folder"):
        call(context, "write_file", path="src", content="")


def test_edit_file_replaces_exactly_one_match(context, worktree):
    result = call(context, "edit_file", path="app.py", old_text="'hello'", new_text="'hi'")
    assert result == {"path": "app.py", "replaced_at_line": 2}
    assert "return 'hi'" in (worktree / "app.py").read_text()
    with pytest.raises(ToolError, match=r"old_text was not found in app\.py"):
        call(context, "edit_file", path="app.py", old_text="goodbye", new_text="x")
    before = (worktree / "app.py").read_text()
    with pytest.raises(ToolError, match=r"old_text occurs 2 times in app\.py"):
        call(context, "edit_file", path="app.py", old_text="def ", new_text="async def ")
    assert (worktree / "app.py").read_text() == before


def test_list_files_skips_gitignored_files(context, worktree):
    (worktree / "ignored.txt").write_text("noise\n")
    (worktree / "build").mkdir()
    (worktree / "build" / "out.js").write_text("noise\n")
    (worktree / "src").mkdir()
    (worktree / "src" / "new.py").write_text("NEW = True\n")
    files = call(context, "list_files")["files"]
    assert sorted(files) == [".gitignore", "README.md", "app.py", "src/new.py"]
    assert call(context, "list_files", path="src") == {"files": ["src/new.py"], "truncated": False}
    limited = call(context, "list_files", limit=2)
    assert len(limited["files"]) == 2 and limited["truncated"]


def test_search_code_finds_tracked_and_new_files_and_caps_results(context, worktree):
    (worktree / "extra.py").write_text("".join(f"def f{i}(): pass\n" for i in range(50)))
    (worktree / "ignored.txt").write_text("def hidden(): pass\n")
    found = call(context, "search_code", pattern="def greet", fixed_string=True)
    assert found == {
        "matches": [{"path": "app.py", "line": 1, "text": "def greet():"}],
        "truncated": False,
    }
    capped = call(context, "search_code", pattern="^def f[0-9]+", limit=10)
    assert len(capped["matches"]) == 10 and capped["truncated"]
    assert call(context, "search_code", pattern="hidden")["matches"] == []
    assert call(context, "search_code", pattern="GREET", ignore_case=True)["matches"]


def test_run_command_runs_in_the_worktree(context, worktree):
    result = call(context, "run_command", argv=["sh", "-c", "pwd; echo made > made.txt; exit 4"])
    assert result["exit_code"] == 4 and not result["timed_out"]
    assert result["output"].splitlines()[0] == os.path.realpath(worktree)
    assert (worktree / "made.txt").read_text() == "made\n"
    assert result["sandboxed"] is commands.sandbox_available()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state not in ("Z", "X")


def test_run_command_timeout_is_capped_and_kills_its_group(context, worktree, settings):
    settings.AGENT_SANDBOX = "none"  # the grandchild's pid is only ours to check outside bwrap
    settings.AGENT_COMMAND_TIMEOUT_S = 1
    script = "sleep 300 & echo $! > child.pid; wait"
    result = call(context, "run_command", argv=["sh", "-c", script], timeout_s=3600)
    assert result["timed_out"] and result["exit_code"] is None
    pid = int((worktree / "child.pid").read_text())
    deadline = time.monotonic() + HANG_S
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


def test_git_diff_against_base_and_working_tree(context, worktree):
    call(context, "edit_file", path="app.py", old_text="'hello'", new_text="'hi'")
    call(context, "git_commit", message="Say hi")
    call(context, "write_file", path="notes.md", content="new\n")
    call(context, "edit_file", path="app.py", old_text="pass", new_text="return 'bye'")
    since_base = call(context, "git_diff")
    assert "-    return 'hello'" in since_base["diff"] and "+    return 'bye'" in since_base["diff"]
    assert since_base["untracked"] == ["notes.md"] and not since_base["truncated"]
    uncommitted = call(context, "git_diff", against="working_tree")
    assert "'hello'" not in uncommitted["diff"] and "+    return 'bye'" in uncommitted["diff"]


def test_git_commit_commits_on_the_worktree_branch_only(context, repo, worktree):
    main_before = git(repo, "rev-parse", "main")
    status_before = git(repo, "status", "--porcelain")
    call(context, "write_file", path="feature.py", content="FEATURE = 1\n")
    (worktree / "ignored.txt").write_text("not committed\n")
    result = call(context, "git_commit", message="Add the feature flag")
    assert result["branch"] == "crewboard/T-1-1"
    assert result["commit"] == git(worktree, "rev-parse", "HEAD")
    assert "1 file changed" in result["summary"]
    assert git(worktree, "log", "-1", "--format=%an <%ae>|%s") == (
        "coder-7 <agent@crewboard.invalid>|Add the feature flag"
    )
    assert git(worktree, "show", "--name-only", "--format=", "HEAD") == "feature.py"
    # The user's checkout: same branch tip, same uncommitted edit, no new files.
    assert git(repo, "rev-parse", "main") == main_before
    assert git(repo, "status", "--porcelain") == status_before == "M README.md"
    assert not (repo / "feature.py").exists()
    with pytest.raises(ToolError, match="nothing to commit"):
        call(context, "git_commit", message="Again")


@pytest.mark.skipif(not commands._bwrap_usable(), reason="bwrap not installed")
def test_sandboxed_commands_cannot_rewrite_the_repository_config(context, repo, worktree, settings):
    settings.AGENT_SANDBOX = "bwrap"
    config_before = (repo / ".git" / "config").read_text()
    result = call(
        context, "run_command", argv=["git", "config", "core.fsmonitor", "touch /tmp/pwned"]
    )
    assert result["sandboxed"] and result["exit_code"] != 0
    assert (repo / ".git" / "config").read_text() == config_before
    # Nor point the worktree at a git dir of its own making, whose config Crewboard's
    # own git commands on the worktree would then obey.
    pointer_before = (worktree / ".git").read_text()
    result = call(context, "run_command", argv=["sh", "-c", "echo 'gitdir: evil' > .git"])
    assert result["exit_code"] != 0 and (worktree / ".git").read_text() == pointer_before
    # Committing, which writes objects and refs in the repository's git dir, still works.
    call(context, "write_file", path="x.py", content="X = 1\n")
    assert call(context, "git_commit", message="Add x")["branch"] == "crewboard/T-1-1"


def test_a_long_command_keeps_its_runs_lease_and_stops_when_the_run_is_cancelled(
    context, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    from agents.models import AgentRun
    from agents.services.runs import leases

    monkeypatch.setattr(leases, "LEASE_RENEW_S", 0.0)  # renew at every check
    run = context.run
    AgentRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now())
    result = call(context, "run_command", argv=["sh", "-c", "sleep 1.2"])
    assert result["exit_code"] == 0
    renewed = AgentRun.objects.get(pk=run.pk).lease_expires_at
    assert renewed > timezone.now() + timedelta(seconds=60)

    AgentRun.objects.filter(pk=run.pk).update(status="cancelled")
    stopped = call(context, "run_command", argv=["sh", "-c", "sleep 30"])
    assert stopped["cancelled"] and stopped["exit_code"] is None
