"""Writes every app's services share: `model_update`, after HackSoft's styleguide, and
`instance_insert`."""

from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Model

from core.db import is_unique_violation
from core.errors import ConflictError, DomainError

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
    (with `field`) for a name not in `allowed`, ValidationError from `full_clean`, and
    ConflictError as `instance_insert` does.
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
        instance_insert(instance=instance)
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


def instance_insert(*, instance: ModelT) -> ModelT:
    """Validate a new `instance` and insert it, in a savepoint.

    Two requests that create the same unique key at once both pass the check, and the
    database refuses the second insert: that request gets the ValidationError the check
    gives once the first row is there, or ConflictError when the check still cannot see
    it. Raises ValidationError from `full_clean`, and ConflictError.
    """
    instance.full_clean()
    try:
        with transaction.atomic():
            instance.save(force_insert=True)
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        # On PostgreSQL the insert waited for the other request's commit, so its row is
        # visible now and the check words the clash as it always does.
        instance.full_clean()
        raise ConflictError(
            f"Another request created this {instance._meta.verbose_name} at the same time."
        ) from None
    return instance
