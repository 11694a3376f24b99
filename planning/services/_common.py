"""Helpers and errors shared by the planning services."""

from anyascii import anyascii
from django.utils import timezone
from django.utils.text import slugify

from core.errors import DomainError
from planning.models import (
    Project,
)


class PlanError(DomainError):
    """A change that would make the plan inconsistent (a cycle, a cross-project link)."""


def plan_rows_deleted(*, project_id: int) -> None:
    """Record that features, sub-features or tasks of the project were deleted: live
    pages poll the latest `updated_at` of those rows (planning.outline.plan_stamp), which
    a deletion leaves as it was, so every service that deletes them touches the project."""
    Project.objects.filter(pk=project_id).update(updated_at=timezone.now())


def _unique_slug(name: str) -> str:
    # Transliterated, so "Проект Альфа" becomes "proekt-alfa" rather than every
    # non-Latin name collapsing to "project"; slugs stay ASCII for URLs and shells.
    base = slugify(anyascii(name))[:90].strip("-") or "project"
    taken = set(Project.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug
