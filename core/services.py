"""Writes every app's services share: `model_update`, after HackSoft's styleguide."""

from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar

from django.db.models import Model

from core.errors import DomainError

ModelT = TypeVar("ModelT", bound=Model)


def model_update(
    *,
    instance: ModelT,
    data: Mapping[str, Any],
    allowed: Iterable[str],
    derive: Callable[[list[str]], list[str]] | None = None,
) -> tuple[ModelT, list[str]]:
    """Set the fields of `data` that differ on `instance`, validate it and save what changed.

    Only the changed fields are written, with `updated_at` when the model has one; when
    nothing changed, nothing is validated or written. An instance not yet in the database
    is validated and inserted whole, so a create service sets its optional fields through
    the same check. `derive`, when given, is called with the names of the changed fields
    once they are set and before validation; it sets the fields that follow from them (a
    finished project's completed_at) and returns the names with its own added.

    Returns the instance and the names of the fields that changed. Raises DomainError
    (with `field`) for a name not in `allowed`, and ValidationError from `full_clean`.
    """
    allowed = set(allowed)
    changed: list[str] = []
    for name, value in data.items():
        if name not in allowed:
            raise DomainError(f"{name!r} cannot be changed here.", field=name)
        if not _same(getattr(instance, name), value):
            setattr(instance, name, value)
            changed.append(name)
    if derive is not None:
        changed = list(dict.fromkeys(derive(changed)))
    if instance._state.adding:
        instance.full_clean()
        instance.save()
    elif changed:
        has_updated_at = any(f.name == "updated_at" for f in instance._meta.concrete_fields)
        # A JSON value saved before its shape was checked must not block changing another
        # field (a task's status); it is checked again when it is itself changed.
        unchanged_shapes = [n for n in getattr(instance, "json_shapes", {}) if n not in changed]
        instance.full_clean(exclude=unchanged_shapes)
        instance.save(
            update_fields=[*changed, "updated_at"]
            if has_updated_at and "updated_at" not in changed
            else changed
        )
    return instance, changed


def _same(current: Any, new: Any) -> bool:
    # 1 == True == 1.0 in Python, but not in a JSON value, so the types must match too. An
    # enum member (a model's choices) is the plain value the database stores.
    current, new = (v.value if isinstance(v, Enum) else v for v in (current, new))
    return type(current) is type(new) and current == new
