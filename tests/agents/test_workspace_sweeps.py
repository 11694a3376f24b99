"""With several worker hosts, the workspace sweep reaches each host's worktrees: the beat
task sweeps the host it runs on and sends a sweep to every other host's queue, which
only that host's workers serve."""

import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from agents.models import Workspace
from agents.services import workspaces
from agents.tasks import sweep_workspaces
from config.celery import app as celery_app
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
