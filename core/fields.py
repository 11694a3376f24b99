"""Model fields the project needs beyond Django's own."""

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Expression


class DocumentJSONField(models.JSONField):
    """A JSONField for large documents that are written once and read whole, never
    queried inside: PostgreSQL keeps it as `json`, its text as sent, rather than `jsonb`.

    Storing `json` only checks the text's syntax, where `jsonb` builds a binary tree of
    the whole document (a plan version's 10 MB snapshot took twice as long to insert).
    What is lost is everything that compares documents (`json` has no equality: no
    filter on it, no DISTINCT, UNION or GROUP BY over it) and `jsonb`'s operators and
    indexes, which such a document never needs; such a query fails on PostgreSQL only,
    so none may be written against one (reading a key, `values_list("snapshot__tasks")`,
    works on both). Kept is the text: `json` gives the keys back in the order they were
    sent, as SQLite does.

    On SQLite, where JSON is text either way, it is otherwise Django's JSONField.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("decoder") is not None:
            # psycopg decodes `json` itself, with the standard decoder.
            raise ValueError("A DocumentJSONField cannot take a decoder.")
        super().__init__(*args, **kwargs)

    def db_type(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def get_db_prep_value(
        self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False
    ) -> Any:
        prepared_value = super().get_db_prep_value(value, connection, prepared)
        if connection.vendor != "postgresql":
            return prepared_value
        # Django sends a `jsonb` parameter, which PostgreSQL would build and then turn
        # back into text for the column: send the same text as `json`.
        from psycopg.types.json import Json, Jsonb

        if isinstance(prepared_value, Jsonb):
            return Json(prepared_value.obj, dumps=prepared_value.dumps)
        return prepared_value

    def from_db_value(
        self, value: Any, expression: Expression, connection: BaseDatabaseWrapper
    ) -> Any:
        if connection.vendor == "postgresql":
            # psycopg's loader for `json` has already decoded it (Django registers a
            # text loader for `jsonb` only, and decodes that text itself).
            return value
        return super().from_db_value(value, expression, connection)
