"""Planning's bulk insert of plain rows: an import's new features, sub-features,
requirements, tasks and their links, without a model instance each (see the README's
Architecture section on raw SQL)."""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import DateTimeField, JSONField, Model
from django.utils import timezone

from core.db import column_list


def rows_insert(
    model: type[Model], rows: Sequence[Mapping[str, Any]], using: str = DEFAULT_DB_ALIAS
) -> int:
    """Insert `rows` (field attnames to Python values) into `model`'s table, without a
    model instance per row: COPY on PostgreSQL, one prepared INSERT run for every row
    (`executemany`) on SQLite. A field a row leaves out takes its default, and the
    timestamps (`auto_now`, `auto_now_add`) the time of the call, as `bulk_create` would
    give them. Returns the number of rows; their ids are not read back (the caller reads
    them by key, once, if it needs them).

    For imports of thousands of rows, where building and compiling `bulk_create`'s
    instances costs several times what the database takes to store them. Nothing here
    checks values: the caller inserts only what it has validated (a plan document,
    checked against its shapes once), and the database's own constraints still hold.
    Only planning's own tables: the plan's items, their dependencies and links.
    Raises django.db.IntegrityError when a constraint refuses a row.
    """
    if model._meta.app_label != "planning":
        raise TypeError(f"{model.__name__} is not one of planning's tables.")
    if not rows:
        return 0
    connection = connections[using]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and not f.generated]
    now = timezone.now()
    defaults: dict[str, Any] = {}
    prepare: dict[str, Callable[[Any], Any]] = {}
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            defaults[field.attname] = now
        else:
            # As a new instance would have it: "" for a text field without a default.
            defaults[field.attname] = field.get_default()
        if isinstance(field, JSONField):
            prepare[field.attname] = _json_text
        elif isinstance(field, DateTimeField) and connection.vendor == "postgresql":
            prepare[field.attname] = _timestamp_text
        elif isinstance(field, DateTimeField):
            prepare[field.attname] = functools.partial(
                field.get_db_prep_save, connection=connection
            )
    names = [field.attname for field in fields]
    prepared_default = {
        name: prepare[name](value) if name in prepare and value is not None else value
        for name, value in defaults.items()
    }

    in_order = operator.itemgetter(*names)
    preparing = tuple(prepare.items())

    def line(row: Mapping[str, Any]) -> tuple[Any, ...]:
        # The row over the defaults, then only its own values that need preparing: a
        # loop over every column of every row was most of an import's insert time.
        values = {**prepared_default, **row}
        for name, prepared in preparing:
            value = row.get(name)
            if value is not None:
                values[name] = prepared(value)
        out = in_order(values)
        return out if isinstance(out, tuple) else (out,)

    table = connection.ops.quote_name(model._meta.db_table)
    columns = column_list(fields)
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with connection.wrap_database_errors:
                raw = cursor.cursor
                with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(line(row))
        else:
            marks = ", ".join(["%s"] * len(fields))
            statement = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
            cursor.executemany(statement, [line(row) for row in rows])
    return len(rows)


def _timestamp_text(value: Any) -> Any:
    # The ISO text PostgreSQL reads as the same instant. The driver's own conversion of a
    # datetime costs several times a row's other columns; as text, the timestamps every
    # row shares (the defaults, prepared once) cost nothing per row.
    return value.isoformat() if isinstance(value, datetime) else value


def _json_text(value: Any) -> str:
    # What Django's JSONField stores (json.dumps, no custom encoder on planning's fields).
    # Most tasks list no files: their empty list skips the encoder.
    if value == [] or value == {}:
        return "[]" if isinstance(value, list) else "{}"
    return json.dumps(value)
