"""Helpers and errors shared by the planning services."""

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.text import slugify

from core.errors import DomainError
from planning.models import (
    Project,
)


class PlanError(DomainError):
    """A change that would make the plan inconsistent (a cycle, a cross-project link)."""


def _save(instance: Any, *, update_fields: Iterable[str] | None = None) -> None:
    instance.full_clean()
    instance.save(update_fields=list(update_fields) if update_fields is not None else None)


def _apply(instance: Any, data: Mapping[str, Any], allowed: Iterable[str]) -> list[str]:
    changed = []
    allowed = set(allowed)
    for name, value in data.items():
        if name not in allowed:
            raise DomainError(f"{name!r} cannot be changed here.", field=name)
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def _unique_slug(name: str) -> str:
    base = slugify(name)[:90] or "project"
    slug, n = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug
