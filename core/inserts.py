"""Inserting model instances in one prepared statement, for hot paths where compiling
the insert costs more than running it (see the README's Architecture section on raw
SQL)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import NOT_PROVIDED, Field, JSONField, Model, signals

from core.db import column_list, prepared_cursor
from core.db_values import prepared_values


def insert_rows(
    instances: Sequence[Model],
    using: str = DEFAULT_DB_ALIAS,
    *,
    encoded_json: Mapping[str, str] | None = None,
) -> None:
    """Insert unsaved instances of one model in one prepared statement, as
    Model.save(force_insert=True) or bulk_create would: each field's pre_save (auto_now
    and defaults) and database preparation; the primary keys come back. For hot paths,
    where compiling the insert costs more than running it. A model this does not cover
    (save signal receivers, database defaults, a primary key that is not generated) is
    saved the usual way instead.

    `encoded_json`, for a single instance: JSON fields (by name) whose value the caller
    has already encoded (json.dumps, as the field would), sent as that text instead of
    being encoded again: for megabytes of JSON worked out on the side.
    """
    if not instances:
        return
    statement = insert_statement(instances, using, encoded_json=encoded_json)
    if statement is None:
        for instance in instances:
            instance.save(force_insert=True, using=using)
        return
    with transaction.mark_for_rollback_on_error(using), prepared_cursor(using) as cursor:
        cursor.execute(*statement)
        primary_keys = cursor.fetchall()
    for instance, (pk,) in zip(instances, primary_keys, strict=True):
        mark_inserted(instance, pk, using)


def mark_inserted(instance: Model, pk: Any, using: str = DEFAULT_DB_ALIAS) -> None:
    """Record on an instance that a statement of insert_statement's inserted it as `pk`."""
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = using


def insert_statement(
    instances: Sequence[Model],
    using: str = DEFAULT_DB_ALIAS,
    *,
    unless: str = "",
    encoded_json: Mapping[str, str] | None = None,
) -> tuple[str, list[Any]] | None:
    """The INSERT that insert_rows runs for these unsaved instances of one model, with
    its parameters (it returns the new primary keys), for a caller that runs it as part
    of a larger statement (a PostgreSQL WITH clause). None for a model that insert_rows
    saves the usual way.

    `unless`, for a single instance: an SQL condition (whose parameters the caller
    appends) under which the row is not inserted, checked by the INSERT itself."""
    model = type(instances[0])
    if unless and len(instances) != 1:
        raise ValueError("An insert with a condition inserts one row.")
    if encoded_json:
        _check_encoded_json(model, len(instances), encoded_json)
    if not _insertable_in_one_statement(model):
        return None
    connection = connections[using]
    fields = _inserted_fields(model)
    for instance in instances:
        # Django's own check before any insert; private, so django-stubs omit it.
        instance._prepare_related_fields_for_save(operation_name="insert_rows")  # type: ignore[attr-defined]
    values = prepared_values(instances, fields, connection)
    for position, field in enumerate(fields):
        if encoded_json and field.name in encoded_json:
            values[position] = _json_text_param(connection, field, encoded_json[field.name])
    if unless:
        return _insert_unless_sql(model, unless), values
    return _insert_sql(model, len(instances)), values


def _check_encoded_json(model: type[Model], rows: int, encoded_json: Mapping[str, str]) -> None:
    if rows != 1:
        raise ValueError("Encoded JSON is given for one row.")
    json_fields = {f.name for f in _inserted_fields(model) if isinstance(f, JSONField)}
    if not encoded_json.keys() <= json_fields:
        unknown = ", ".join(sorted(encoded_json.keys() - json_fields))
        raise ValueError(f"Not JSON fields of {model.__name__}: {unknown}.")


def _json_text_param(connection: BaseDatabaseWrapper, field: Field[Any, Any], text: str) -> Any:
    """A JSON field's parameter from its encoded text, as the field's own preparation
    would have sent it: on PostgreSQL, typed as the column (`jsonb`, or `json` for a
    DocumentJSONField)."""
    if connection.vendor == "postgresql":
        from psycopg.types.json import Json, Jsonb

        parameter = Json if field.db_type(connection) == "json" else Jsonb
        return parameter(None, dumps=lambda _: text)
    return text


def _insertable_in_one_statement(model: type[Model]) -> bool:
    return (
        _inserts_its_own_values(model)
        and not signals.pre_save.has_listeners(model)
        and not signals.post_save.has_listeners(model)
    )


@functools.cache
def _inserts_its_own_values(model: type[Model]) -> bool:
    return bool(
        # Field.db_returning is Django's; django-stubs declare it on AutoField only.
        model._meta.pk.db_returning  # type: ignore[attr-defined]
        and all(field.db_default is NOT_PROVIDED for field in model._meta.concrete_fields)
    )


@functools.cache
def _inserted_fields(model: type[Model]) -> tuple[Field[Any, Any], ...]:
    return tuple(
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and not field.generated
    )


@functools.cache
def _insert_unless_sql(model: type[Model], condition: str) -> str:
    fields = _inserted_fields(model)
    return (
        f'INSERT INTO "{model._meta.db_table}" ({column_list(fields)}) '
        f"SELECT {', '.join(['%s'] * len(fields))} WHERE NOT ({condition}) "
        f'RETURNING "{model._meta.pk.column}"'
    )


@functools.cache
def _insert_sql(model: type[Model], rows: int) -> str:
    fields = _inserted_fields(model)
    row = f"({', '.join(['%s'] * len(fields))})"
    return (
        f'INSERT INTO "{model._meta.db_table}" ({column_list(fields)}) '
        f'VALUES {", ".join([row] * rows)} RETURNING "{model._meta.pk.column}"'
    )
