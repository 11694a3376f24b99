"""The one owner of a workspace's life: the git worktree a coding run works in.

`workspace_create` checks the run's base branch out into a worktree of its own under
settings.WORKSPACES_DIR/<project>/<run id>, on a new branch `crewboard/<task>-<n>`, and
runs the project's setup command there. `workspace_remove` takes the worktree away
(its branch, holding the work, stays). `workspaces_sweep` forgets this host's worktrees
whose folders are gone, and removes those no active workspace owns and those of tasks
that are finished; celery beat has it run on every host that holds worktrees
(`workspace_host_queues`).

The user's checkout (the project's root_path) is never changed: git only adds worktrees
from it and reads it; the files, HEAD and index there stay as they were. The Workspace
row is written once the worktree is ready, in one transaction with the task's
worktree fields, so a failure leaves no row, and no folder or branch either.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.models import AgentRun, Workspace
from agents.services.run_logs import RunLogWriter
from agents.services.workspace_setup import (
    SetupError,
    setup_done_earlier,
    setup_interruptions_settle,
    setup_run,
)
from core import git
from core.errors import DomainError
from planning import services as planning_services
from planning.models import Project, Task

BRANCH_PREFIX = "crewboard/"
# Attempt numbers tried past the run's own when earlier runs of the task left branches.
BRANCH_TRIES = 50
# A task in one of these states needs no worktree any more: the sweep removes them.
FINISHED_TASK_STATUSES = (Task.Status.DONE, Task.Status.CANCELLED)
_UNSAFE_REF_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class WorkspaceError(DomainError):
    """A worktree could not be made (or set up); the message says why."""


def workspace_dir(project: Project) -> Path:
    return Path(settings.WORKSPACES_DIR) / project.slug


def branch_stem(run: AgentRun) -> str:
    """`crewboard/<task key>`: the key made safe for a git ref name."""
    key = run.task.key if run.task is not None else f"run-{run.pk}"
    safe = _UNSAFE_REF_CHARS.sub("-", key).strip(".-") or f"run-{run.pk}"
    return f"{BRANCH_PREFIX}{safe.replace('..', '.')}"


def workspace_create(*, run: AgentRun) -> Workspace:
    """Make the run's worktree on a new branch from the project's base branch, run the
    project's setup command in it (output to the run's log), and record it on the task.

    Called again for a run that has its workspace, it returns that one; for a run whose
    setup finished in a worktree that was never recorded (its worker died), it records
    that worktree without running the setup again; for a run whose setup was interrupted,
    it logs the decision to rerun it and does so from a clean worktree
    (agents.services.workspace_setup). Raises WorkspaceError (a DomainError) when the
    project has no usable repository, git fails, or the setup command fails or was
    interrupted too often; then nothing is left behind.
    """
    existing = Workspace.objects.filter(run=run, status=Workspace.Status.ACTIVE).first()
    if existing is not None and Path(existing.path).is_dir():
        return existing
    project = run.project
    repo, base_commit = project_repository(project)
    path = workspace_dir(project) / str(run.pk)
    _check_outside_checkout(repo, path)
    done = setup_done_earlier(run=run, path=path)
    if done is not None and done.branch and done.base_commit:
        return _record(run, path=path, branch=done.branch, base_commit=done.base_commit)
    if path.exists():  # left by a create that crashed: nothing records it
        _discard(repo, path)
    elif existing is not None:  # its folder was lost: git still has it on record
        git.worktree_prune(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    with RunLogWriter(run.pk) as log:
        try:
            setup_interruptions_settle(run=run, log=log)
        except SetupError as exc:
            raise WorkspaceError(str(exc)) from exc
        branch = _add_worktree(run, repo, path, base_commit, log)
        try:
            setup_run(
                run=run, project=project, path=path, branch=branch, base_commit=base_commit, log=log
            )
            return _record(run, path=path, branch=branch, base_commit=base_commit)
        except SetupError as exc:
            _discard(repo, path)
            _delete_branch_if_unused(repo, branch, base_commit)
            raise WorkspaceError(str(exc)) from exc
        except BaseException:
            _discard(repo, path)
            _delete_branch_if_unused(repo, branch, base_commit)
            raise


def project_repository(project: Project) -> tuple[Path, str]:
    """The project's checkout and the commit its base branch is at."""
    if not project.root_path:
        raise WorkspaceError(
            f"Project {project.slug} has no repository: set its root path (a git checkout) "
            "or a repository URL in the project's settings."
        )
    repo = Path(project.root_path)
    try:
        return repo, git.rev_parse(repo, f"refs/heads/{project.base_branch}")
    except git.GitError:
        pass  # one git call when all is well; on failure, find out which message fits
    if not git.is_work_tree(repo):
        raise WorkspaceError(f"root_path {repo} is not a git work tree")
    raise WorkspaceError(f"base branch {project.base_branch!r} does not exist in {repo}")


def _check_outside_checkout(repo: Path, path: Path) -> None:
    # Worktrees inside the checkout would show up there as new files, unless ignored.
    inside = path.resolve().is_relative_to(repo.resolve())
    if inside and not _ignored(repo, path):
        raise WorkspaceError(
            f"WORKSPACES_DIR {settings.WORKSPACES_DIR} is inside the project's checkout "
            f"{repo}: worktrees would show up there. Move it, or ignore it in the checkout."
        )


def _ignored(repo: Path, path: Path) -> bool:
    try:
        git.git("check-ignore", "-q", "--no-index", str(path), cwd=repo)
    except git.GitError:
        return False
    return True


def _add_worktree(
    run: AgentRun, repo: Path, path: Path, base_commit: str, log: RunLogWriter
) -> str:
    stem = branch_stem(run)
    last_error: git.GitError | None = None
    log.write(
        "system",
        f"Creating worktree {path} from {run.project.base_branch} ({base_commit[:12]})\n",
    )
    for attempt in range(run.attempt, run.attempt + BRANCH_TRIES):
        branch = f"{stem}-{attempt}"
        try:
            git.worktree_add(repo, path, branch=branch, base=base_commit)
        except git.GitError as exc:
            last_error = exc
            _discard(repo, path)
            # An earlier run of the task left this branch (its work is kept), or another
            # create took the name meanwhile: take the next number.
            if "already exists" in exc.stderr and git.branch_exists(repo, branch):
                continue
            raise WorkspaceError(f"Could not create the worktree: {exc.message}") from exc
        log.write("system", f"Worktree ready on branch {branch}\n")
        return branch
    raise WorkspaceError(
        f"Could not create the worktree: no free branch name after {stem}-{run.attempt}"
        + (f" ({last_error.message})" if last_error else "")
    )


@transaction.atomic
def _record(run: AgentRun, *, path: Path, branch: str, base_commit: str) -> Workspace:
    # A run has one workspace row: made again (its folder was lost), the row is reused.
    workspace, _ = Workspace.objects.update_or_create(
        run=run,
        defaults={
            "project_id": run.project_id,
            "task_id": run.task_id,
            "path": str(path),
            "branch": branch,
            "base_branch": run.project.base_branch,
            "base_commit": base_commit,
            "host": settings.WORKER_HOST,
            "status": Workspace.Status.ACTIVE,
            "removed_at": None,
            "removal_reason": "",
        },
    )
    if run.task_id is not None:
        planning_services.task_worktree_set(task_id=run.task_id, path=str(path), branch=branch)
    return workspace


def workspace_remove(*, workspace: Workspace, reason: str) -> Workspace:
    """Remove a workspace's worktree (uncommitted changes with it; the branch stays) and
    mark it removed with `reason`. Removing a removed workspace changes nothing."""
    if workspace.status == Workspace.Status.REMOVED:
        return workspace
    path = Path(workspace.path)
    repo = Path(workspace.project.root_path) if workspace.project.root_path else None
    _discard(repo, path)
    with transaction.atomic():
        locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
        if locked.status == Workspace.Status.REMOVED:
            return locked
        locked.status = Workspace.Status.REMOVED
        locked.removed_at = timezone.now()
        locked.removal_reason = reason[:200]
        locked.save(update_fields=["status", "removed_at", "removal_reason"])
        if locked.task_id is not None:
            planning_services.task_worktree_set(
                task_id=locked.task_id, path="", branch="", only_if_path=locked.path
            )
    return locked


def _discard(repo: Path | None, path: Path) -> None:
    """Take away the worktree folder at `path` and git's record of it. Only ever a
    folder under WORKSPACES_DIR: anything else is left alone."""
    if not _is_workspace_path(path):
        return
    owner = _owning_git_dir(path) or repo
    removed = False
    if owner is not None and path.exists():
        # Not (or no longer) a worktree git knows: the folder goes below all the same.
        with contextlib.suppress(git.GitError):
            git.worktree_remove(owner, path)
            removed = True
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    if removed:
        return  # git forgot it with the folder: nothing left to prune
    for where in {owner, repo}:
        if where is not None:
            with contextlib.suppress(git.GitError):
                git.worktree_prune(where)


def _is_workspace_path(path: Path) -> bool:
    root = Path(settings.WORKSPACES_DIR).resolve()
    resolved = path.resolve()
    return resolved != root and resolved.is_relative_to(root)


def _owning_git_dir(path: Path) -> Path | None:
    """The repository a worktree folder belongs to, from its `.git` file ("gitdir:
    <repo>/.git/worktrees/<name>"); None when it is not a worktree."""
    try:
        text = (path / ".git").read_text()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    admin = Path(text.removeprefix("gitdir:").strip())
    common = admin.parent.parent
    if not common.is_dir():
        return None
    # <checkout>/.git: name the checkout, as the project's root_path does.
    return common.parent if common.name == ".git" else common


def _delete_branch_if_unused(repo: Path, branch: str, base_commit: str) -> None:
    # Only a branch with nothing on it: it was made by this create and holds no work.
    try:
        if git.rev_parse(repo, f"refs/heads/{branch}") == base_commit:
            git.branch_delete(repo, branch)
    except git.GitError:
        pass


# The sweep ------------------------------------------------------------------------------

# A host that made a worktree this recently is swept even when none is active there any
# more: a crash may have left a folder that no row records.
RECENT_HOST = timedelta(days=1)


def workspace_host_queues() -> list[str]:
    """The Celery queues of the hosts that hold worktrees (active ones, or any made in
    the last day), this worker's own first: a sweep of each reaches every disk."""
    since = timezone.now() - RECENT_HOST
    rows = (
        Workspace.objects.filter(Q(status=Workspace.Status.ACTIVE) | Q(created_at__gte=since))
        .values_list("host", "run__worker_queue")
        .distinct()
    )
    queues = [settings.WORKER_HOST_QUEUE] if settings.WORKER_HOST_QUEUE else []
    # A run records the queue of its worktree's host; the default name stands in for
    # a workspace whose run is gone.
    for host, queue in sorted(rows, key=lambda row: (row[0], row[1] or "")):
        name = queue or (f"host.{host}" if host else "")
        if name and name not in queues:
            queues.append(name)
    return queues


@dataclass
class SweepReport:
    removed: list[str] = field(default_factory=list)  # workspaces, "path (reason)"
    orphans: list[str] = field(default_factory=list)  # folders no active workspace owns
    pruned: list[str] = field(default_factory=list)  # repositories pruned


def workspaces_sweep() -> SweepReport:
    """Tidy this host's worktrees: remove those of finished tasks and those whose
    folder is gone, remove folders under WORKSPACES_DIR that no active workspace owns
    (unless their run is still being prepared), and `git worktree prune` every
    repository concerned."""
    report = SweepReport()
    active = list(
        Workspace.objects.filter(status=Workspace.Status.ACTIVE, host=settings.WORKER_HOST)
        .select_related("project", "task")
        .order_by("pk")
    )
    repos = {Path(w.project.root_path) for w in active if w.project.root_path}
    for workspace in active:
        reason = _sweep_reason(workspace)
        if reason:
            workspace_remove(workspace=workspace, reason=reason)
            report.removed.append(f"{workspace.path} ({reason})")
    owned = set(
        Workspace.objects.filter(status=Workspace.Status.ACTIVE).values_list("path", flat=True)
    )
    for folder in _workspace_folders():
        if str(folder) in owned or _being_prepared(folder):
            continue
        owner = _owning_git_dir(folder)
        if owner is not None:
            repos.add(owner)
        _discard(owner, folder)
        report.orphans.append(str(folder))
    for repo in sorted(repos):
        try:
            git.worktree_prune(repo)
        except git.GitError:
            continue  # a repository moved away: nothing of it to prune here
        report.pruned.append(str(repo))
    return report


def _sweep_reason(workspace: Workspace) -> str:
    if not Path(workspace.path).is_dir():
        return "its folder is gone"
    task = workspace.task
    if task is not None and task.status in FINISHED_TASK_STATUSES:
        return f"task {task.key} is {task.get_status_display().lower()}"
    return ""


def _workspace_folders() -> list[Path]:
    root = Path(settings.WORKSPACES_DIR)
    if not root.is_dir():
        return []
    return sorted(f for project in root.iterdir() if project.is_dir() for f in project.iterdir())


def _being_prepared(folder: Path) -> bool:
    # A run's folder is named after it; while the run is active its create may be under way.
    if not folder.name.isdigit():
        return False
    return AgentRun.objects.filter(
        pk=int(folder.name), status__in=AgentRun.ACTIVE_STATUSES
    ).exists()
