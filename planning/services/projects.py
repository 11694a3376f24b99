"""Projects and their members."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.errors import ConflictError
from core.services import model_update
from planning.models import (
    Project,
    ProjectMembership,
)
from planning.services._common import _unique_slug

# Projects ---------------------------------------------------------------------------

PROJECT_FIELDS = (
    "name",
    "slug",
    "description",
    "mode",
    "status",
    "root_path",
    "repository_url",
    "base_branch",
)


@transaction.atomic
def project_create(*, owner: User, name: str, **fields: Any) -> Project:
    """Create a project and make `owner` its first owner member."""
    project = Project(owner=owner, name=name, slug=fields.pop("slug", None) or _unique_slug(name))
    model_update(instance=project, data=fields, allowed=PROJECT_FIELDS)
    ProjectMembership.objects.create(project=project, user=owner, role=ProjectMembership.Role.OWNER)
    return project


@transaction.atomic
def project_update(*, project: Project, data: Mapping[str, Any]) -> Project:
    """Change a project's fields; finishing it stamps completed_at."""

    def derive(changed: list[str]) -> list[str]:
        if "status" in changed:
            finished = project.status in (Project.Status.COMPLETED, Project.Status.ARCHIVED)
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
def membership_set(*, project: Project, user: User, role: str) -> ProjectMembership:
    """Add `user` to the project or change their role.

    Raises ConflictError when the change would leave the project without an owner.
    """
    membership = ProjectMembership.objects.select_for_update().filter(
        project=project, user=user
    ).first() or ProjectMembership(project=project, user=user)
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
