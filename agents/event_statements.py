"""The statements that store a coding CLI's events: a batch of tool call rows or
decisions in one insert, planned once per connection on PostgreSQL (`unnest` of one
array per column) and written out per batch size elsewhere. Like `agents.statements`,
table and column names come from the models' `_meta`."""

import functools
from typing import Any

from django.db import connection
from django.db.models import CharField, Field, JSONField, Model, TextField

from core.db import column_list

# How a CLI's tool call rows and decisions are inserted: the fields every row of a batch
# shares (its links, its time, what a started row or a completion lacks), then the fields
# each row has its own value of.
STARTED_SHARED = ("project", "agent", "run", "task", "status", "error", "created_at")
STARTED_OWN = ("call_id", "tool_name", "input")
COMPLETION_SHARED = ("project", "agent", "run", "task", "call_id", "input", "created_at")
COMPLETION_OWN = ("started", "tool_name", "status", "output", "error", "duration_ms")
DECISION_SHARED = ("project", "agent", "run", "task", "created_at")
DECISION_OWN = ("decision", "reasoning")


def rows_insert(
    model: type[Model], shared: tuple[str, ...], own: tuple[str, ...], rows: int, vendor: str
) -> str:
    """Insert `rows` rows of `model`, returning their ids: the parameters are the values
    of the `shared` fields, then on PostgreSQL one array per field of `own` (one
    statement for any number of rows, planned once), elsewhere each row's values of
    `own`. Values are as the database takes them, a JSON field's as JSON text."""
    if vendor == "postgresql":
        return _unnest_insert(model, shared, own)
    return _values_insert(model, shared, own, rows)


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _fields(model: type[Model], names: tuple[str, ...]) -> list[Field[Any, Any]]:
    by_name = {field.name: field for field in model._meta.concrete_fields}
    return [by_name[name] for name in names]


def _cast(field: Field[Any, Any]) -> str:
    # Text goes as text, so that storing it checks its length as any insert does (a cast
    # to varchar(n) would cut it); JSON goes as text too, and is cast to jsonb as stored.
    if isinstance(field, JSONField | CharField | TextField):
        return "text"
    return field.db_type(connection) or "text"


def _stored(expression: str, field: Field[Any, Any]) -> str:
    return f"{expression}::jsonb" if isinstance(field, JSONField) else expression


@functools.cache
def _unnest_insert(model: type[Model], shared: tuple[str, ...], own: tuple[str, ...]) -> str:
    shared_fields, own_fields = _fields(model, shared), _fields(model, own)
    values = [_stored(f"%s::{_cast(field)}", field) for field in shared_fields]
    values += [_stored(f"u.c{i}", field) for i, field in enumerate(own_fields)]
    arrays = ", ".join(f"%b::{_cast(field)}[]" for field in own_fields)
    names = ", ".join(f"c{i}" for i in range(len(own_fields)))
    return (
        f"INSERT INTO {_table(model)} ({column_list([*shared_fields, *own_fields])}) "
        f"SELECT {', '.join(values)} FROM unnest({arrays}) AS u({names}) "
        'RETURNING "id"'
    )


@functools.cache
def _values_insert(
    model: type[Model], shared: tuple[str, ...], own: tuple[str, ...], rows: int
) -> str:
    shared_fields, own_fields = _fields(model, shared), _fields(model, own)
    row = ", ".join(["%s"] * (len(shared_fields) + len(own_fields)))
    return (
        f"INSERT INTO {_table(model)} ({column_list([*shared_fields, *own_fields])}) "
        f'VALUES {", ".join([f"({row})"] * rows)} RETURNING "id"'
    )
