"""Checkpoints of a project's state: taking one, comparing one with now, restoring one.

A checkpoint holds the plan (as a version snapshot), every task's execution fields, the
project's AgentState entries and the git commit of `root_path`. Restoring one puts the
database back; it never touches the append-only logs, nor the files or git history. On
request it also points a new branch at the checkpoint's commit, for the user to check
out: `git branch` alone, never a checkout or a reset of anyone's work.
"""

import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from agents.checkpoints import (
    EXECUTION_FIELDS,
    StateDiff,
    StateFormatError,
    build_state,
    canonical_json,
    check_state,
    diff_states,
    execution_of,
    execution_values,
)
from agents.models import Agent, AgentRun, AgentState, Checkpoint, DecisionLog
from agents.services.logs import decision_record
from agents.services.runs import dispatch_after_commit
from core import git
from core.errors import ConflictError, DomainError
from planning import selectors as planning_selectors
from planning import services as planning_services
from planning.importers.document import PlanDocument, PlanImportError
from planning.models import Project, Task
from planning.services.plan_rows import BATCH
from planning.services.plans import plan_apply_or_explain

GIT_TIMEOUT_S = 5

FILES_NOT_RESTORED = (
    "Only the database state was restored: the files under the project's root_path and "
    "its git history were not touched."
)
FILES_ON_BRANCH = (
    "Only the database state was restored: the files under the project's root_path were "
    "not touched, and nothing was checked out. Branch {name} points at the checkpoint's "
    "git commit {commit}: check it out to see the files as they were."
)
RESTORE_BRANCH = "crewboard/restore-{pk}"


@dataclass(frozen=True)
class RestoreBranch:
    """The branch a restore points at its checkpoint's commit; `made` when this restore
    made it (it was not there before)."""

    name: str
    commit: str
    made: bool


def git_head(path: str) -> str:
    """The commit checked out at `path`, or "" when it is not in a git work tree or has no
    commit yet (or git is missing or slow)."""
    # A GIT_DIR inherited from a hook or a shell would point git at another repository.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        # is_dir() raises for a name the system refuses (a part over 255 bytes, say).
        if not path or not Path(path).is_dir():
            return ""
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
            cwd=path,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, ValueError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _project_state(project: Project) -> dict[str, Any]:
    return build_state(
        plan=planning_selectors.plan_document(project=project).to_snapshot(),
        tasks=project.tasks.values("key", *EXECUTION_FIELDS),
        agent_state=project.agent_state.values("namespace", "key", "value"),
    )


def _lock(project: Project) -> Project:
    # plan_apply takes the same lock, so a snapshot never sees half an import or restore.
    # Not FOR UPDATE, which a claim's commit (a foreign-key check, FOR KEY SHARE) would
    # wait for: a run's start checkpoints and then dispatches, which may wait for that
    # claim's file locks.
    return Project.objects.select_for_update(no_key=True).get(pk=project.pk)


def _checked_state(checkpoint: Checkpoint) -> dict[str, Any]:
    try:
        return check_state(checkpoint.state)
    except StateFormatError as exc:
        raise DomainError(f"Checkpoint “{checkpoint.name}” cannot be used: {exc}.") from exc


def checkpoint_snapshot(
    *,
    project: Project,
    name: str,
    reason: str = "",
    actor: User | None = None,
) -> Checkpoint:
    """Capture the project's plan, task execution state, agent state and git commit.

    One transaction. Callable from anywhere, e.g. the orchestrator with
    reason="run started". `actor` is accepted for the audit but not stored yet (a
    checkpoint has no author column). Raises ValidationError for an over-long name.
    """
    commit = git_head(project.root_path)  # outside the transaction: it may take a moment
    with transaction.atomic():
        locked = _lock(project)
        checkpoint = Checkpoint(
            project=locked,
            name=name,
            reason=reason,
            state=_project_state(locked),
            git_commit=commit,
        )
        checkpoint.full_clean()
        checkpoint.save()
    return checkpoint


def checkpoint_diff(*, checkpoint: Checkpoint) -> StateDiff:
    """What restoring `checkpoint` would change: `before` is now, `after` the checkpoint.

    Raises DomainError when the checkpoint's state is not a snapshot this code took.
    """
    state = _checked_state(checkpoint)
    project = checkpoint.project
    return diff_states(
        _project_state(project),
        state,
        commit_before=git_head(project.root_path),
        commit_after=checkpoint.git_commit,
    )


def checkpoint_restore(
    *, checkpoint: Checkpoint, actor: User | None = None, git_branch: bool = False
) -> DecisionLog:
    """Put the project's plan, task execution state and agent state back as captured.

    One transaction; the logs are only added to, by the decision this returns (its
    reasoning holds the summary of what changed). Files are not touched. With
    `git_branch`, branch `crewboard/restore-<checkpoint id>` is first pointed at the
    checkpoint's commit in the project's repository (`git branch` only: no checkout, no
    reset); one already there is fine, and a branch this made is deleted again when the
    restore then fails. Raises DomainError, having written nothing, for a state that is
    not a snapshot, a plan that no longer imports, or a state the database rules reject,
    and (with `git_branch`) for a checkpoint without a commit, a project without a
    repository, or a commit the repository lacks; ConflictError while agent runs are
    active (a restore would pull their tasks from under them), and when the branch
    exists pointing elsewhere.
    """
    state = _checked_state(checkpoint)
    # Outside the transaction, and first: git may take a moment, and a branch that
    # cannot be made must stop the restore before it writes anything.
    branch = _restore_branch(checkpoint) if git_branch else None
    try:
        return _restore_explained(checkpoint, state, actor, branch)
    except BaseException:
        _branch_undo(checkpoint, branch)
        raise


def _restore_explained(
    checkpoint: Checkpoint,
    state: dict[str, Any],
    actor: User | None,
    branch: RestoreBranch | None,
) -> DecisionLog:
    try:
        return _restore(checkpoint, state, actor, branch)
    except PlanImportError as exc:
        raise DomainError(f"Checkpoint “{checkpoint.name}” cannot be restored: {exc}") from exc
    except IntegrityError as exc:
        raise DomainError(
            f"Checkpoint “{checkpoint.name}” cannot be restored: it breaks a database rule ({exc})."
        ) from exc


def _restore_branch(checkpoint: Checkpoint) -> RestoreBranch:
    """Point the checkpoint's restore branch at its commit, or find it there already.
    Raises DomainError or ConflictError, having changed nothing, when it cannot."""
    name = RESTORE_BRANCH.format(pk=checkpoint.pk)
    unable = f"No branch can point at checkpoint “{checkpoint.name}”, so nothing was restored:"
    if not checkpoint.git_commit:
        raise DomainError(
            f"{unable} it recorded no git commit (the project's folder was not a git "
            "repository with a commit when it was taken). Restore it without the branch.",
            field="git_branch",
        )
    root = checkpoint.project.root_path
    if not root or not git.is_work_tree(root):
        raise DomainError(
            f"{unable} the project has no git repository (its root path is "
            f"{'not set' if not root else 'not a git work tree'}). Restore it without the "
            "branch.",
            field="git_branch",
        )
    try:
        commit = git.rev_parse(root, checkpoint.git_commit)
    except git.GitError as exc:
        raise DomainError(
            f"{unable} its commit {checkpoint.git_commit[:12]} is not in the repository at "
            f"{root} (rewritten or pruned since it was taken).",
            field="git_branch",
        ) from exc
    at = _branch_commit(root, name)
    if at == commit:
        return RestoreBranch(name=name, commit=commit, made=False)
    if at:
        raise ConflictError(
            f"Branch {name} already exists and points at {at[:12]}, not at the checkpoint's "
            f"commit {commit[:12]}, so nothing was restored. Rename or delete that branch, "
            "or restore without the branch."
        )
    try:
        git.branch_create(root, name, commit)
    except git.GitError as exc:
        # A restore of the same checkpoint at the same moment may have made it.
        if _branch_commit(root, name) == commit:
            return RestoreBranch(name=name, commit=commit, made=False)
        raise DomainError(
            f"Branch {name} could not be made, so nothing was restored: {exc.message}"
        ) from exc
    return RestoreBranch(name=name, commit=commit, made=True)


def _branch_commit(root: str, name: str) -> str:
    """The commit local branch `name` points at, or "" when there is none."""
    if not git.branch_exists(root, name):
        return ""
    return git.rev_parse(root, f"refs/heads/{name}")


def _branch_undo(checkpoint: Checkpoint, branch: RestoreBranch | None) -> None:
    """Delete the branch a failed restore made (only while it still points where the
    restore put it); one that was there before stays."""
    if branch is not None and branch.made:
        git.branch_delete_if_at(checkpoint.project.root_path, branch.name, branch.commit)


@transaction.atomic
def _restore(
    checkpoint: Checkpoint,
    state: dict[str, Any],
    actor: User | None,
    branch: RestoreBranch | None,
) -> DecisionLog:
    project = _lock(checkpoint.project)
    # Checked under the project's lock, which dispatch takes too: no run starts between
    # the check and the restore. Running runs, and paused ones (queued with steps done),
    # hold tasks.
    active = AgentRun.objects.filter(project=project).filter(
        Q(status=AgentRun.Status.RUNNING) | Q(status=AgentRun.Status.QUEUED, steps__isnull=False)
    )
    if active.exists():
        raise ConflictError(
            "Agents are working on this project: cancel or let their runs finish before "
            "restoring a checkpoint."
        )
    diff = diff_states(_project_state(project), state)
    plan_apply_or_explain(
        project=project,
        document=PlanDocument.from_snapshot(state["plan"], source=f"checkpoint {checkpoint.pk}"),
        prune=True,
    )
    warnings = _restore_task_execution(project, state["tasks"])
    # The statuses just put back are rolled up into features, sub-features and project.
    planning_services.plan_status_rollup(project_id=project.pk)
    _restore_agent_state(project, state["agent_state"])
    reasoning: dict[str, Any] = {
        "checkpoint": checkpoint.pk,
        "checkpoint_name": checkpoint.name,
        "summary": diff.summary(),
        "git_commit": checkpoint.git_commit,
        "files": FILES_NOT_RESTORED,
    }
    if branch is not None:
        reasoning["git_branch"] = asdict(branch)
        reasoning["files"] = FILES_ON_BRANCH.format(name=branch.name, commit=branch.commit[:12])
    if warnings:
        reasoning["warnings"] = warnings
    if actor is not None and actor.is_authenticated:
        reasoning["restored_by"] = actor.get_username()
    dispatch_after_commit(project.pk)
    return decision_record(
        project=project, decision=f"Restored checkpoint {checkpoint.name}", reasoning=reasoning
    )


def _restore_task_execution(project: Project, wanted: dict[str, dict[str, Any]]) -> list[str]:
    """Set every task's execution fields as captured; returns what could not be."""
    warnings = []
    agent_ids = {data.get("assigned_agent_id") for data in wanted.values()} - {None}
    agent_status = dict(project.agents.filter(pk__in=agent_ids).values_list("pk", "status"))
    now = timezone.now()
    changed = []
    for task in project.tasks.all():
        target = execution_values(wanted.get(task.key, {}))
        agent_id = target["assigned_agent_id"]
        if agent_id is not None and agent_id not in agent_status:
            warnings.append(f"Agent {agent_id} no longer exists; {task.key} is left unassigned.")
            target["assigned_agent_id"] = None
        elif (
            agent_id is not None
            and agent_status[agent_id] == Agent.Status.TERMINATED
            and target["status"] == Task.Status.PENDING
        ):
            # A pending task's agent reserves it; a terminated one never takes it.
            warnings.append(
                f"Agent {agent_id} is terminated; pending {task.key} is left unassigned."
            )
            target["assigned_agent_id"] = None
        current = {name: getattr(task, name) for name in EXECUTION_FIELDS}
        if execution_of(current) == execution_of(target):
            continue
        for name, value in target.items():
            setattr(task, name, value)
        task.updated_at = now
        changed.append(task)
    Task.objects.bulk_update(changed, [*EXECUTION_FIELDS, "updated_at"], batch_size=BATCH)
    return warnings


def _restore_agent_state(project: Project, wanted_entries: list[dict[str, Any]]) -> None:
    """Make the project's entries exactly the captured ones."""
    wanted = {(e["namespace"], e["key"]): e.get("value") for e in wanted_entries}
    current = {(e.namespace, e.key): e for e in project.agent_state.all()}
    stale = [entry.pk for key, entry in current.items() if key not in wanted]
    if stale:
        AgentState.objects.filter(pk__in=stale).delete()
    now = timezone.now()
    changed = []
    for key, entry in current.items():
        if key in wanted and canonical_json(entry.value) != canonical_json(wanted[key]):
            entry.value = wanted[key]
            entry.updated_at = now
            changed.append(entry)
    AgentState.objects.bulk_update(changed, ["value", "updated_at"], batch_size=BATCH)
    AgentState.objects.bulk_create(
        [
            AgentState(project=project, namespace=namespace, key=key, value=value)
            for (namespace, key), value in wanted.items()
            if (namespace, key) not in current
        ],
        batch_size=BATCH,
    )
