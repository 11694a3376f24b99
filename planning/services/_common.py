"""Helpers and errors shared by the planning services."""

from django.utils.text import slugify

from core.errors import DomainError
from planning.models import (
    Project,
)


class PlanError(DomainError):
    """A change that would make the plan inconsistent (a cycle, a cross-project link)."""


def _unique_slug(name: str) -> str:
    base = slugify(name)[:90] or "project"
    slug, n = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug
