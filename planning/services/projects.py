"""Projects and their members."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Field
from django.utils import timezone

from core.errors import ConflictError, DomainError
from core.services import model_update
from planning.models import (
    Project,
    ProjectMembership,
)
from planning.services._common import _unique_slug
from planning.services.repositories import (
    project_repository_check,
    project_repository_clone,
    project_repository_discard,
)
from planning.tool_options import enabled_tools_error

# Projects ---------------------------------------------------------------------------

# How agents work on the project's code, and how their work is reviewed and merged: the
# settings page, the API and the admin all take these.
PROJECT_SETTINGS_FIELDS = (
    "max_concurrent_runs",
    "root_path",
    "repository_url",
    "base_branch",
    "setup_command",
    "verify_command",
    "max_qa_iterations",
    "enabled_tools",
    "allow_network",
    "default_executor",
    "review",
    "merge_strategy",
    "keep_branches",
)
PROJECT_FIELDS = ("name", "slug", "description", "mode", "status", *PROJECT_SETTINGS_FIELDS)
REPOSITORY_FIELDS = ("root_path", "repository_url", "base_branch")


def project_create(*, owner: User, name: str, **fields: Any) -> Project:
    """Create a project and make `owner` its first owner member.

    A repository_url without a root_path is cloned first (outside the transaction: it
    may take minutes); the clone is removed again when the project cannot be saved.
    Raises DomainError (with `field`) for bad repository fields, and ValidationError.
    """
    slug = fields.pop("slug", None) or _unique_slug(name)
    cloned = _prepare_repository(slug=slug, current=None, data=fields)
    try:
        return _project_insert(owner=owner, name=name, slug=slug, fields=fields)
    except BaseException:
        project_repository_discard(cloned)
        raise


@transaction.atomic
def _project_insert(*, owner: User, name: str, slug: str, fields: dict[str, Any]) -> Project:
    project = Project(owner=owner, name=name, slug=slug)
    model_update(instance=project, data=fields, allowed=PROJECT_FIELDS)
    ProjectMembership.objects.create(project=project, user=owner, role=ProjectMembership.Role.OWNER)
    return project


def project_update(*, project: Project, data: Mapping[str, Any]) -> Project:
    """Change a project's fields; finishing it stamps completed_at.

    Changed repository fields are checked (and a repository_url without a root_path
    cloned) as in project_create. Raises DomainError and ValidationError.
    """
    data = dict(data)
    slug = data.get("slug") or project.slug
    cloned = _prepare_repository(slug=slug, current=project, data=data)
    try:
        return _project_save(project=project, data=data)
    except BaseException:
        project_repository_discard(cloned)
        raise


def _prepare_repository(*, slug: str, current: Project | None, data: dict[str, Any]) -> Path | None:
    """Check the fields a project is about to be saved with, and clone its repository
    when that is what they ask for (setting data["root_path"]). Returns the new clone."""
    _check_settings(data, current)
    values = {
        name: data.get(name, getattr(current, name) if current else _default(name))
        for name in REPOSITORY_FIELDS
    }
    changed = current is None or any(values[n] != getattr(current, n) for n in REPOSITORY_FIELDS)
    if not changed:
        return None
    plan = project_repository_check(slug=slug, **values)
    if plan.root_path is not None:
        data["root_path"] = str(plan.root_path)
    return project_repository_clone(plan=plan)


def _default(name: str) -> Any:
    field = Project._meta.get_field(name)
    assert isinstance(field, Field)  # the repository fields are plain columns
    return field.get_default()


def _check_settings(data: Mapping[str, Any], current: Project | None) -> None:
    if "enabled_tools" in data:
        already = current.enabled_tools if current is not None else []
        problem = enabled_tools_error(data["enabled_tools"], already=already or [])
        if problem:
            raise DomainError(problem, field="enabled_tools")
    runs = data.get("max_concurrent_runs")
    if runs is not None and (not isinstance(runs, int) or isinstance(runs, bool) or runs < 1):
        raise DomainError("max_concurrent_runs must be at least 1.", field="max_concurrent_runs")
    qa = data.get("max_qa_iterations")
    if qa is not None and (not isinstance(qa, int) or isinstance(qa, bool) or qa < 1):
        raise DomainError("max_qa_iterations must be at least 1.", field="max_qa_iterations")


@transaction.atomic
def _project_save(*, project: Project, data: Mapping[str, Any]) -> Project:
    def derive(changed: list[str]) -> list[str]:
        if "status" in changed:
            finished = project.status in Project.FINISHED_STATUSES
            if finished and project.completed_at is None:
                project.completed_at = timezone.now()
                changed.append("completed_at")
            elif not finished and project.completed_at is not None:
                project.completed_at = None
                changed.append("completed_at")
        return changed

    model_update(instance=project, data=data, allowed=PROJECT_FIELDS, derive=derive)
    return project


@transaction.atomic
def membership_set(*, project: Project, user: User, role: str | None = None) -> ProjectMembership:
    """Add `user` to the project or change their role. Without a role a new member is a
    viewer and an existing one keeps theirs.

    Raises ConflictError when the change would leave the project without an owner, or
    when another request adds the same user at once.
    """
    membership = ProjectMembership.objects.select_for_update().filter(
        project=project, user=user
    ).first() or ProjectMembership(project=project, user=user)
    if role is None:
        role = membership.role
    if membership.pk and membership.role == ProjectMembership.Role.OWNER and role != "owner":
        _ensure_another_owner(project=project, leaving=membership)
    model_update(instance=membership, data={"role": role}, allowed=("role",))
    return membership


@transaction.atomic
def membership_remove(*, membership: ProjectMembership) -> None:
    """Remove a member. Raises ConflictError for the last owner."""
    if membership.role == ProjectMembership.Role.OWNER:
        _ensure_another_owner(project=membership.project, leaving=membership)
    membership.delete()


def _ensure_another_owner(*, project: Project, leaving: ProjectMembership) -> None:
    others = project.memberships.select_for_update().filter(role="owner").exclude(pk=leaving.pk)
    if not others.exists():
        raise ConflictError("A project needs at least one owner.")


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete a project and its plan. Raises ProtectedError while audit records refer to it."""
    project.delete()
