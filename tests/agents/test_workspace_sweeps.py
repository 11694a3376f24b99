"""With several worker hosts, the workspace sweep reaches each host's worktrees: the beat
task sweeps the host it runs on and sends a sweep to every other host's queue, which
only that host's workers serve."""

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from agents.models import Workspace
from agents.services import workspaces
from agents.tasks import sweep_workspaces
from config.celery import app as celery_app
from planning.models import Task
from tests.celery_worker import _forget_queue, spawn_worker, stop_worker, wait_for
from tests.factories import AgentFactory, AgentRunFactory, TaskFactory
from tests.gitrepos import make_repo


def worktree_on(project, settings, *, host: str, key: str) -> Workspace:
    """A worktree made by a worker of `host`, for a task that is done since."""
    settings.WORKER_HOST, settings.WORKER_HOST_QUEUE = host, f"host.{host}"
    task = TaskFactory(project=project, key=key, status="in_progress")
    run = AgentRunFactory(
        project=project,
        agent=AgentFactory(project=project, name=f"coder-{key}"),
        task=task,
        status="running",
        stage="preparing",
        worker_queue=f"host.{host}",
    )
    workspace = workspaces.workspace_create(run=run)
    task.status = "done"
    task.save()
    return workspace


@pytest.mark.django_db
def test_the_host_queues_are_those_holding_worktrees_own_first(project, settings, tmp_path):
    project.root_path = str(make_repo(tmp_path / "repo"))
    project.save()
    worktree_on(project, settings, host="beta", key="B")
    worktree_on(project, settings, host="alpha", key="A")
    settings.WORKER_HOST, settings.WORKER_HOST_QUEUE = "web", "host.web"

    assert workspaces.workspace_host_queues() == ["host.web", "host.alpha", "host.beta"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_each_hosts_worker_sweeps_the_worktrees_on_its_own_disk(
    append_only_rows_cleared, project, settings, tmp_path
):
    suffix = uuid.uuid4().hex[:8]
    here, there, gone = f"here-{suffix}", f"there-{suffix}", f"gone-{suffix}"
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    project.root_path = str(make_repo(tmp_path / "repo"))
    project.save()
    theirs = worktree_on(project, settings, host=there, key="T")
    lost = worktree_on(project, settings, host=gone, key="G")  # its host has no worker now
    settings.WORKER_HOST, settings.WORKER_HOST_QUEUE = here, f"host.{here}"
    env = {
        "WORKER_HOST": there,
        "WORKER_HOST_QUEUE": f"host.{there}",
        "WORKSPACES_DIR": str(settings.WORKSPACES_DIR),
    }
    if django_settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env["CELERY_BROKER_DIR"] = str(django_settings.BROKER_DIR)
    log = tmp_path / "worker.log"
    # It serves its host's queue only: nothing else reaches it.
    worker = spawn_worker(f"host.{there}", env, log)
    try:
        sweep_workspaces()  # as beat has it, on a worker of another host

        removed = Workspace.objects.filter(pk=theirs.pk, status="removed")
        wait_for(removed.exists, worker, log)
    finally:
        stop_worker(worker)
        with celery_app.connection_for_write() as conn:
            _forget_queue(conn, f"host.{gone}")

    assert not Path(theirs.path).exists()
    assert removed.get().removal_reason == "task T is done"
    # A host whose worker is gone keeps its worktree until it comes back.
    lost.refresh_from_db()
    assert lost.status == "active" and Path(lost.path).is_dir()


def orphan_on(project, workspaces_dir: Path, *, name: str) -> Path:
    """A worktree that a crash left under a host's WORKSPACES_DIR: git knows it, no
    workspace records it, and no active run is named after it."""
    path = workspaces_dir / project.slug / name
    path.parent.mkdir(parents=True, exist_ok=True)
    repo = Path(project.root_path)
    subprocess.run(
        ["git", "worktree", "add", "-q", "--detach", str(path), "main"],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    return path


def git_worktrees(repo: Path) -> set[str]:
    listed = subprocess.run(
        ["git", "worktree", "list", "--porcelain"],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    prefix = "worktree "
    return {line.removeprefix(prefix) for line in listed.splitlines() if line.startswith(prefix)}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_hosts_workers_each_sweep_only_their_own_disk(
    append_only_rows_cleared, project, settings, tmp_path
):
    """Two worker processes, each for a host of its own (its name, `-n`, and its host's
    queue), each with its own WORKSPACES_DIR holding orphans and a worktree of a finished
    task, and one worktree still in use. The beat's sweep reaches each host through its
    queue: alpha's worker, alone at first, removes alpha's and leaves beta's waiting;
    beta's worker, once started, removes beta's."""
    suffix = uuid.uuid4().hex[:8]
    alpha, beta, web = f"alpha-{suffix}", f"beta-{suffix}", f"web-{suffix}"
    repo = make_repo(tmp_path / "repo")
    project.root_path = str(repo)
    project.save()
    disks = {host: tmp_path / host / "worktrees" for host in (alpha, beta, web)}
    finished, in_use, orphans = {}, {}, {}
    for host in (alpha, beta):
        settings.WORKSPACES_DIR = disks[host]
        finished[host] = worktree_on(project, settings, host=host, key=f"F-{host}")
        in_use[host] = worktree_on(project, settings, host=host, key=f"U-{host}")
        # Its task is back in progress, its run still running: the sweep keeps it.
        Task.objects.filter(pk=in_use[host].task_id).update(status="in_progress")
        crashed = AgentRunFactory(project=project, status="failed", worker_queue=f"host.{host}")
        orphans[host] = [
            orphan_on(project, disks[host], name=str(crashed.pk)),
            orphan_on(project, disks[host], name=f"left-{host}"),
        ]
    # The beat runs on a third host, with no worktrees of its own.
    settings.WORKSPACES_DIR = disks[web]
    settings.WORKER_HOST, settings.WORKER_HOST_QUEUE = web, f"host.{web}"
    assert workspaces.workspace_host_queues() == [f"host.{web}", f"host.{alpha}", f"host.{beta}"]

    def start(host: str) -> tuple[subprocess.Popen, Path]:
        env = {
            "WORKER_HOST": host,
            "WORKER_HOST_QUEUE": f"host.{host}",
            "WORKSPACES_DIR": str(disks[host]),
        }
        if django_settings.CELERY_BROKER_URL.startswith("filesystem://"):
            env["CELERY_BROKER_DIR"] = str(django_settings.BROKER_DIR)
        log = tmp_path / f"worker-{host}.log"
        return spawn_worker(f"host.{host}", env, log, hostname=f"worker@{host}"), log

    def swept(host: str) -> Callable[[], bool]:
        def done() -> bool:
            removed = Workspace.objects.filter(pk=finished[host].pk, status="removed")
            return not any(path.exists() for path in orphans[host]) and removed.exists()

        return done

    workers: list[subprocess.Popen] = []
    try:
        worker, log = start(alpha)
        workers.append(worker)
        sweep_workspaces()  # as beat has it

        wait_for(swept(alpha), worker, log)
        # Beta's sweep waits in its host's queue: nothing of beta's disk was touched.
        assert all(path.is_dir() for path in orphans[beta])
        assert Path(finished[beta].path).is_dir()
        worker, log = start(beta)
        workers.append(worker)
        wait_for(swept(beta), worker, log)
    finally:
        for worker in workers:
            stop_worker(worker)
        with celery_app.connection_for_write() as conn:
            for host in (alpha, beta, web):
                _forget_queue(conn, f"host.{host}")

    for host in (alpha, beta):
        removed = Workspace.objects.get(pk=finished[host].pk)
        assert removed.removal_reason == f"task F-{host} is done"
        assert not Path(finished[host].path).exists()
        kept = Workspace.objects.get(pk=in_use[host].pk)
        assert kept.status == "active" and Path(kept.path).is_dir()
        other = beta if host == alpha else alpha
        said = (tmp_path / f"worker-{host}.log").read_text()
        assert all(str(path) in said for path in orphans[host])
        assert not any(str(path) in said for path in orphans[other])
    # Each sweep pruned git's record of the worktrees it removed.
    assert git_worktrees(repo) == {str(repo), in_use[alpha].path, in_use[beta].path}
