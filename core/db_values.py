"""Model instances to and from the values of a hot statement (core.db's insert_rows and
instance_from_row), as Django's own insert and querysets make them, with less Python.

Django prepares each field's value for the database through a chain of method calls,
and builds an instance from a row through Model.__init__, which sends signals. An agent
step does both a dozen times. Where that work is known to hand the value back as it is
(Django's own field classes, for values of the types below) or to do no more than fill
the instance's dictionary (a model nothing changes the building of), it is done
directly; anything else takes Django's way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import (
    AutoField,
    BigAutoField,
    BooleanField,
    CharField,
    Field,
    FloatField,
    ForeignKey,
    Model,
    OneToOneField,
    SmallAutoField,
    TextField,
    signals,
)
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute

M = TypeVar("M", bound=Model)

# What a field's database preparation leaves as it is, by Django's field class (never a
# subclass, which may prepare differently): a text as text, a float as a float, and so
# on; None too. Integer fields are not here: on PostgreSQL each is adapted to its size.
_STR_FIELDS = (CharField, TextField)
_KEPT: dict[type[Field[Any, Any]], tuple[type, ...]] = {
    FloatField: (float, type(None)),
    BooleanField: (bool, type(None)),
}
# A link keeps the key it holds, where the database takes any (validate_autopk_value).
_LINKS = (ForeignKey, OneToOneField)
_KEYS = (AutoField, BigAutoField, SmallAutoField)

# A field's plan: the field, its attribute, whether its value is read as the attribute (Django's
# own pre_save), whether it is text, and the other types it keeps as they are.
_Plan = tuple[Field[Any, Any], str, bool, bool, tuple[type, ...]]


def prepared_values(
    instances: Sequence[Model], fields: Sequence[Field[Any, Any]], connection: BaseDatabaseWrapper
) -> list[Any]:
    """Each instance's values of `fields` as an insert stores them: each field's
    pre_save (add=True), then its get_db_prep_save, or the value itself where those
    would return it unchanged."""
    ops = type(connection.ops)
    # Fields live as long as the process, and hash slowly: keyed by identity.
    key = (ops, *map(id, fields))
    if (plans := _PLANS.get(key)) is None:
        plans = _PLANS[key] = _plans(fields, ops)
    values = []
    for instance in instances:
        for field, attname, read, text, kept in plans:
            value = getattr(instance, attname) if read else field.pre_save(instance, True)
            if not (text and (value is None or isinstance(value, str))) and type(value) not in kept:
                value = field.get_db_prep_save(value, connection)
            values.append(value)
    return values


_PLANS: dict[tuple[Any, ...], list[_Plan]] = {}


def _plans(fields: Sequence[Field[Any, Any]], ops: type[BaseDatabaseOperations]) -> list[_Plan]:
    keys_kept = ops.validate_autopk_value is BaseDatabaseOperations.validate_autopk_value
    plans = []
    for field in fields:
        kind = type(field)
        kept = _KEPT.get(kind, ())
        if kind in _LINKS and keys_kept and type(field.target_field) in _KEYS:  # type: ignore[attr-defined]
            kept = (int, type(None))
        read = kind.pre_save is Field.pre_save
        plans.append((field, field.attname, read, kind in _STR_FIELDS, kept))
    return plans


def built_instance(model: type[M], names: Sequence[str], values: Sequence[Any], using: str) -> M:
    """model.from_db(using, names, values): for a model whose building nothing changes
    (no init signal receivers, no own from_db or __init__, plain field attributes), its
    dictionary is filled directly, as Model.__init__ would."""
    if not _built_directly(model):
        return model.from_db(using, names, values)
    instance = model.__new__(model)
    state = ModelState()
    state.adding, state.db = False, using
    instance._state = state
    instance.__dict__.update(zip(names, values, strict=True))
    return instance


def _built_directly(model: type[Model]) -> bool:
    return (
        _plain_attributes(model)
        and not signals.pre_init.has_listeners(model)
        and not signals.post_init.has_listeners(model)
    )


@functools.cache
def _plain_attributes(model: type[Model]) -> bool:
    """The model builds its instances as Django's Model does, and each field's attribute
    is one whose setting only stores the value (a fresh instance caches no links)."""
    return (
        model.__init__ is Model.__init__
        and getattr(model.from_db, "__func__", None) is Model.from_db.__func__  # type: ignore[attr-defined]
        and all(
            type(inspect.getattr_static(model, field.attname, None))
            in (DeferredAttribute, ForeignKeyDeferredAttribute)
            for field in model._meta.concrete_fields
        )
    )
