"""Projects, their members and requirements, as a user may see them."""

from collections.abc import Sequence

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import (
    Count,
    Prefetch,
    Q,
    QuerySet,
)
from django.db.models.functions import Lower
from django.http import Http404

from planning.models import (
    Feature,
    Project,
    ProjectMembership,
    Requirement,
    Task,
)


def project_list_for_user(*, user: User | AnonymousUser, counts: bool = True) -> QuerySet[Project]:
    """Projects the user is a member of, with task progress counts (`task_count`,
    `done_count`) unless `counts` is False: the annotation joins every task of every
    project listed before a page is cut, so a page of projects gets its counts from
    with_task_counts() instead."""
    if not user.is_authenticated:
        return Project.objects.none()
    projects = Project.objects.filter(memberships__user=user).select_related("owner")
    if counts:
        # One membership row per project, so the join with tasks counts each task once
        # (no DISTINCT, which would sort every task of every project).
        projects = projects.annotate(
            task_count=Count("tasks"),
            done_count=Count("tasks", filter=Q(tasks__status=Task.Status.DONE)),
        )
    return projects.order_by(Lower("name"), "id")


def with_task_counts(projects: Sequence[Project]) -> None:
    """Give each of `projects` its `task_count` and `done_count`: one aggregate grouped by
    project over those projects' tasks alone, read off the tasks' (project, status)
    index."""
    counts = {
        row["project_id"]: row
        for row in Task.objects.filter(project__in=[project.pk for project in projects])
        .order_by()
        .values("project_id")
        .annotate(total=Count("*"), done=Count("status", filter=Q(status=Task.Status.DONE)))
    }
    for project in projects:
        row = counts.get(project.pk, {})
        project.task_count = row.get("total", 0)  # type: ignore[attr-defined]
        project.done_count = row.get("done", 0)  # type: ignore[attr-defined]


def project_for_user(
    *, user: User | AnonymousUser, slug: str, write: bool = False
) -> tuple[Project, ProjectMembership]:
    """The project with `slug` and the user's membership of it.

    Raises Http404 when the user is not a member (existence is not revealed), and
    PermissionDenied when `write` is asked of a viewer.
    """
    if not user.is_authenticated:
        raise Http404("No such project.")
    membership = (
        ProjectMembership.objects.select_related("project", "project__owner")
        .filter(user=user, project__slug=slug)
        .first()
    )
    if membership is None:
        raise Http404("No such project.")
    if write and not membership.can_write:
        raise PermissionDenied("Viewers cannot change this project.")
    return membership.project, membership


def membership_list(*, project: Project) -> QuerySet[ProjectMembership]:
    return project.memberships.select_related("user").order_by("user__username")


def user_to_add(*, username: str) -> User | None:
    """The active user called `username` (case-insensitively), or None."""
    return User.objects.filter(username__iexact=username.strip(), is_active=True).first()


# How every list of requirements is ordered: as editors arranged them (the Requirements
# tab's drag and arrows), then by code for those never moved.
REQUIREMENT_ORDER = ("position", "code", "id")


def requirement_order(*, project: Project) -> QuerySet[Requirement]:
    """The project's requirements in the order every list of them shows."""
    return project.requirements.order_by(*REQUIREMENT_ORDER)


def requirement_list(*, project: Project) -> QuerySet[Requirement]:
    return requirement_order(project=project).prefetch_related(
        Prefetch("features", queryset=Feature.objects.only("id", "key"))
    )
