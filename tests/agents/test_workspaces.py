"""A workspace's life: made from the user's checkout, set up, removed and swept, with the
checkout itself byte-for-byte unchanged throughout. Real repositories, real git, real
setup commands."""

import contextlib
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connections

from agents.models import AgentRun, RunLogChunk, Workspace
from agents.services import workspaces
from agents.services.workspaces import WorkspaceError
from agents.tasks import sweep_workspaces
from config.celery import app
from core import git
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory
from tests.gitrepos import checkout_fingerprint, entries, make_repo, run_git

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("git") is None, reason="git not installed"),
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "checkout", {"README.md": "hi\n", "src/app.py": "x = 1\n"})
    # The user is in the middle of their own work: it must stay exactly as it is.
    (repo / "README.md").write_text("edited, not committed\n")
    (repo / "notes.txt").write_text("untracked\n")
    return repo


@pytest.fixture
def coding_project(project, repo):
    project.root_path = str(repo)
    project.save()
    return project


def make_run(project, *, key="01-01-T1", attempt=1, status="running", stage="preparing"):
    task = TaskFactory(project=project, key=key, status="in_progress")
    agent = AgentFactory(project=project)
    return AgentRunFactory(agent=agent, task=task, attempt=attempt, status=status, stage=stage)


def log_of(run) -> str:
    return "".join(
        RunLogChunk.objects.filter(run=run).order_by("seq").values_list("text", flat=True)
    )


# Create ------------------------------------------------------------------------------------


def test_create_makes_a_worktree_on_its_own_branch_and_leaves_the_checkout_alone(
    coding_project, repo, settings
):
    before = checkout_fingerprint(repo)
    run = make_run(coding_project)

    workspace = workspaces.workspace_create(run=run)

    path = Path(settings.WORKSPACES_DIR) / "crewboard" / str(run.pk)
    assert Path(workspace.path) == path
    assert workspace.branch == "crewboard/01-01-T1-1"
    assert (workspace.base_branch, workspace.host) == ("main", settings.WORKER_HOST)
    assert workspace.base_commit == run_git(repo, "rev-parse", "main")
    assert (path / "README.md").read_text() == "hi\n"  # the committed file, not the edit
    assert not (path / "notes.txt").exists()
    assert git.git("branch", "--show-current", cwd=path) == "crewboard/01-01-T1-1"
    run.task.refresh_from_db()
    assert (run.task.worktree_path, run.task.branch_name) == (str(path), workspace.branch)
    assert f"Creating worktree {path} from main ({workspace.base_commit[:12]})" in log_of(run)
    assert "Worktree ready on branch crewboard/01-01-T1-1\n" in log_of(run)
    assert checkout_fingerprint(repo) == before


def test_the_setup_command_runs_in_the_worktree_and_its_output_goes_to_the_log(
    coding_project, repo
):
    coding_project.setup_command = "echo setting up; echo ready > .setup-done; ls src"
    coding_project.save()
    before = checkout_fingerprint(repo)
    run = make_run(coding_project)

    workspace = workspaces.workspace_create(run=run)

    assert (Path(workspace.path) / ".setup-done").read_text() == "ready\n"
    log = log_of(run)
    assert "$ echo setting up; echo ready > .setup-done; ls src  # setup" in log
    assert "setting up\n" in log
    assert "app.py\n" in log
    assert "# setup finished in" in log
    assert checkout_fingerprint(repo) == before


def test_a_failing_setup_command_leaves_nothing_behind(coding_project, repo, settings):
    coding_project.setup_command = "echo installing; echo 'no such package' >&2; exit 3"
    coding_project.save()
    before = checkout_fingerprint(repo)
    run = make_run(coding_project)

    with pytest.raises(WorkspaceError) as caught:
        workspaces.workspace_create(run=run)

    message = caught.value.message
    assert message.startswith("The setup command `echo installing; echo 'no such package' >&2;")
    assert "exited with 3" in message
    assert "no such package" in message
    assert not Workspace.objects.exists()
    assert entries(Path(settings.WORKSPACES_DIR) / "crewboard") == []
    assert not git.branch_exists(repo, "crewboard/01-01-T1-1")
    assert [w.path for w in git.worktree_list(repo)] == [repo]
    run.task.refresh_from_db()
    assert run.task.worktree_path == ""
    assert "# setup exited with 3" in log_of(run)
    assert checkout_fingerprint(repo) == before


def test_a_project_without_a_repository_cannot_have_a_workspace(project):
    with pytest.raises(WorkspaceError, match="Project crewboard has no repository"):
        workspaces.workspace_create(run=make_run(project))


def test_a_missing_base_branch_is_named(coding_project, repo):
    coding_project.base_branch = "develop"
    coding_project.save()
    with pytest.raises(WorkspaceError, match=f"base branch 'develop' does not exist in {repo}"):
        workspaces.workspace_create(run=make_run(coding_project))


def test_creating_again_for_the_same_run_returns_its_workspace(coding_project):
    run = make_run(coding_project)
    first = workspaces.workspace_create(run=run)
    assert workspaces.workspace_create(run=run) == first
    assert Workspace.objects.count() == 1


def test_a_workspace_whose_folder_was_lost_is_made_again(coding_project, repo):
    run = make_run(coding_project)
    first = workspaces.workspace_create(run=run)
    shutil.rmtree(first.path)
    again = workspaces.workspace_create(run=run)
    assert again.pk == first.pk
    assert (Path(again.path) / "README.md").exists()
    assert again.branch == "crewboard/01-01-T1-2"  # the first branch is kept as it was
    assert git.branch_exists(repo, "crewboard/01-01-T1-1")


def test_a_folder_left_by_a_crashed_create_is_replaced(coding_project, settings):
    run = make_run(coding_project)
    leftover = Path(settings.WORKSPACES_DIR) / "crewboard" / str(run.pk)
    leftover.mkdir(parents=True)
    (leftover / "half.txt").write_text("")
    workspace = workspaces.workspace_create(run=run)
    assert (Path(workspace.path) / "README.md").exists()
    assert not (Path(workspace.path) / "half.txt").exists()


def test_a_branch_left_by_an_earlier_run_of_the_task_is_kept_and_the_next_number_taken(
    coding_project, repo
):
    run_git(repo, "branch", "crewboard/01-01-T1-1")
    workspace = workspaces.workspace_create(run=make_run(coding_project))
    assert workspace.branch == "crewboard/01-01-T1-2"


def test_task_keys_become_safe_branch_names(coding_project):
    run = make_run(coding_project, key="feature/auth: log in..now", attempt=2)
    assert workspaces.branch_stem(run) == "crewboard/feature-auth-log-in.now"
    assert workspaces.workspace_create(run=run).branch == "crewboard/feature-auth-log-in.now-2"


@pytest.mark.django_db(transaction=True)
def test_runs_creating_worktrees_at_once_in_one_repository_all_succeed(coding_project, repo):
    before = checkout_fingerprint(repo)
    runs = [make_run(coding_project, key=f"T{n}") for n in range(4)]

    def create(run: AgentRun) -> Workspace:
        try:
            return workspaces.workspace_create(run=run)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(create, runs))

    assert sorted(w.branch for w in made) == [f"crewboard/T{n}-1" for n in range(4)]
    assert all((Path(w.path) / "src" / "app.py").exists() for w in made)
    assert len(git.worktree_list(repo)) == 5
    assert checkout_fingerprint(repo) == before


# Remove ------------------------------------------------------------------------------------


def test_remove_takes_the_worktree_away_keeps_the_branch_and_the_checkout(coding_project, repo):
    before = checkout_fingerprint(repo)
    run = make_run(coding_project)
    workspace = workspaces.workspace_create(run=run)
    (Path(workspace.path) / "work.py").write_text("uncommitted work\n")

    removed = workspaces.workspace_remove(workspace=workspace, reason="task done")

    assert (removed.status, removed.removal_reason) == ("removed", "task done")
    assert removed.removed_at is not None
    assert not Path(workspace.path).exists()
    assert git.branch_exists(repo, workspace.branch)
    assert [w.path for w in git.worktree_list(repo)] == [repo]
    run.task.refresh_from_db()
    assert (run.task.worktree_path, run.task.branch_name) == ("", "")
    assert checkout_fingerprint(repo) == before
    # Again: nothing more happens.
    assert workspaces.workspace_remove(workspace=removed, reason="again").removal_reason == (
        "task done"
    )


def test_remove_copes_with_a_folder_already_gone(coding_project, repo):
    workspace = workspaces.workspace_create(run=make_run(coding_project))
    shutil.rmtree(workspace.path)
    workspaces.workspace_remove(workspace=workspace, reason="cleanup")
    assert [w.path for w in git.worktree_list(repo)] == [repo]


# Sweep -------------------------------------------------------------------------------------


def test_the_sweep_removes_finished_tasks_worktrees_gone_folders_and_orphans(
    coding_project, repo, settings
):
    before = checkout_fingerprint(repo)
    working = workspaces.workspace_create(run=make_run(coding_project, key="A"))
    done = workspaces.workspace_create(run=make_run(coding_project, key="B"))
    done.task.status = "done"
    done.task.save()
    gone = workspaces.workspace_create(run=make_run(coding_project, key="C"))
    shutil.rmtree(gone.path)
    # A crash left a worktree no workspace records, and a stray folder; a run that is
    # still being prepared has a folder too, and keeps it.
    crashed = make_run(coding_project, key="D", status="failed", stage="")
    crashed_path = Path(settings.WORKSPACES_DIR) / "crewboard" / str(crashed.pk)
    git.worktree_add(repo, crashed_path, branch="crewboard/D-1", base="main")
    stray = Path(settings.WORKSPACES_DIR) / "crewboard" / "stray"
    stray.mkdir()
    preparing = make_run(coding_project, key="E")
    in_the_making = Path(settings.WORKSPACES_DIR) / "crewboard" / str(preparing.pk)
    in_the_making.mkdir()

    report = workspaces.workspaces_sweep()

    assert sorted(report.removed) == sorted(
        [f"{done.path} (task B is done)", f"{gone.path} (its folder is gone)"]
    )
    assert sorted(report.orphans) == sorted([str(crashed_path), str(stray)])
    assert report.pruned == [str(repo)]
    assert Path(working.path).is_dir()
    assert in_the_making.is_dir()
    assert not Path(done.path).exists()
    assert not crashed_path.exists() and not stray.exists()
    assert {w.path for w in git.worktree_list(repo)} == {repo, Path(working.path)}
    assert set(Workspace.objects.filter(status="active").values_list("pk", flat=True)) == {
        working.pk
    }
    assert checkout_fingerprint(repo) == before


def test_the_sweep_is_a_periodic_task():
    entry = app.conf.beat_schedule["sweep-workspaces"]
    assert entry["task"] == "agents.tasks.sweep_workspaces"
    assert "agents.tasks.sweep_workspaces" in app.tasks


def test_the_sweep_task_calls_the_sweep(coding_project):
    workspace = workspaces.workspace_create(run=make_run(coding_project))
    workspace.task.status = "cancelled"
    workspace.task.save()
    sweep_workspaces.apply()
    workspace.refresh_from_db()
    assert workspace.status == "removed"


def test_the_setup_command_cannot_write_to_the_users_checkout(coding_project, repo):
    from agents.workspaces.commands import sandbox_available

    if not sandbox_available():
        pytest.skip("bubblewrap not available: setup commands run unconfined")
    coding_project.setup_command = f"echo sneaky > {repo}/sneaky.txt"
    coding_project.save()
    before = checkout_fingerprint(repo)
    # The write fails (a read-only checkout), or lands in the sandbox's private /tmp when
    # the checkout lives under /tmp, as here: either way not in the checkout.
    with contextlib.suppress(WorkspaceError):
        workspaces.workspace_create(run=make_run(coding_project))
    assert not (repo / "sneaky.txt").exists()
    assert checkout_fingerprint(repo) == before
