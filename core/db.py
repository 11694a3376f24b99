"""Database-level guards that Django has no declarative API for, and helpers for hot
statements."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, migrations, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.migrations.state import ProjectState, StateApps
from django.db.models import NOT_PROVIDED, Field, Model, signals
from django.db.transaction import TransactionManagementError

from core.db_values import built_instance, prepared_values

if TYPE_CHECKING:
    from django.db.backends.utils import _ExecuteParameters, _ExecuteQuery

M = TypeVar("M", bound=Model)

UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether the database refused a duplicate, as opposed to another integrity failure
    (a missing link, a failed check)."""
    driver_error = exc.__cause__
    return getattr(driver_error, "sqlstate", None) == UNIQUE_VIOLATION or getattr(
        driver_error, "sqlite_errorname", None
    ) in {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


PG_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION crewboard_reject_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is %: % is not allowed', TG_TABLE_NAME, TG_ARGV[0], TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


def commit_without_flush_wait(using: str = DEFAULT_DB_ALIAS) -> None:
    """Inside a transaction: on PostgreSQL, let its COMMIT return before the WAL reaches
    disk (`synchronous_commit` off for this transaction only). A server crash may lose
    the transaction, but never a part of it and never a later one, since every
    synchronous commit flushes all WAL before it. Only for work a retry redoes anyway.
    Does nothing on other databases.

    The setting holds for the whole transaction, so this must run directly inside
    `transaction.atomic(durable=True)`: in an inner block it would change how the
    enclosing transaction's other work commits. Raises TransactionManagementError
    otherwise, on every database."""
    connection = connections[using]
    blocks = connection.atomic_blocks
    # django-stubs leaves Atomic.durable undeclared; Django sets it in __init__.
    if not blocks or not blocks[-1].durable:  # type: ignore[attr-defined]
        raise TransactionManagementError(
            "commit_without_flush_wait() must run directly inside "
            "transaction.atomic(durable=True): the whole transaction would commit without "
            "waiting for the disk."
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def prepared_cursor(using: str = DEFAULT_DB_ALIAS) -> CursorWrapper:
    """A cursor whose statements PostgreSQL parses and plans once per connection, then
    reuses (server-side prepared statements); an ordinary cursor on other databases.

    For a hot statement that costs more to plan than to run. Django's own cursors bind
    parameters client-side and never prepare; this one binds them server-side, so its
    SQL must be valid with typed parameters. Queries run through it are logged and
    counted like any other.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return _PreparedDebugCursor(raw, connection)
    return CursorWrapper(raw, connection)


def column_list(fields: Sequence[Field[Any, Any]], table: str = "") -> str:
    """The quoted columns of `fields`, for a hand-written statement; qualified by `table`
    (a table name or a lower-case alias) when given."""
    prefix = f'"{table}".' if table else ""
    return ", ".join(f'{prefix}"{field.column}"' for field in fields)


def instance_from_row(
    model: type[M],
    fields: Sequence[Field[Any, Any]],
    values: Sequence[Any],
    using: str = DEFAULT_DB_ALIAS,
) -> M:
    """A model instance from raw column values (a row of a RETURNING clause, say), in
    the order of `fields`: each value goes through its field's converters, as in a
    queryset."""
    names = [field.attname for field in fields]
    return built_instance(model, names, converted_row(fields, values, using), using)


def converted_row(
    fields: Sequence[Field[Any, Any]], values: Sequence[Any], using: str = DEFAULT_DB_ALIAS
) -> list[Any]:
    """Raw column values of `fields` as a queryset would give them (JSON decoded,
    datetimes made aware, and so on)."""
    connection = connections[using]
    row = list(values)
    for position, converters in _converters(connection, fields):
        for converter in converters:
            row[position] = converter(row[position], fields[position].cached_col, connection)
    return row


def insert_rows(instances: Sequence[Model], using: str = DEFAULT_DB_ALIAS) -> None:
    """Insert unsaved instances of one model in one prepared statement, as
    Model.save(force_insert=True) or bulk_create would: each field's pre_save (auto_now
    and defaults) and database preparation; the primary keys come back. For hot paths,
    where compiling the insert costs more than running it. A model this does not cover
    (save signal receivers, database defaults, a primary key that is not generated) is
    saved the usual way instead.
    """
    if not instances:
        return
    statement = insert_statement(instances, using)
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
    instances: Sequence[Model], using: str = DEFAULT_DB_ALIAS, *, unless: str = ""
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
    if not _insertable_in_one_statement(model):
        return None
    connection = connections[using]
    fields = _inserted_fields(model)
    for instance in instances:
        # Django's own check before any insert; private, so django-stubs omit it.
        instance._prepare_related_fields_for_save(operation_name="insert_rows")  # type: ignore[attr-defined]
    values = prepared_values(instances, fields, connection)
    if unless:
        return _insert_unless_sql(model, unless), values
    return _insert_sql(model, len(instances)), values


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


# Per connection object (each thread has its own), since converters are bound to it.
_Converters = list[tuple[int, list[Callable[..., Any]]]]
_CONVERTERS: WeakKeyDictionary[BaseDatabaseWrapper, dict[tuple[int, ...], _Converters]] = (
    WeakKeyDictionary()
)


def _converters(connection: BaseDatabaseWrapper, fields: Sequence[Field[Any, Any]]) -> _Converters:
    """The converters a queryset would apply to these columns, by position."""
    known = _CONVERTERS.setdefault(connection, {})
    key = tuple(map(id, fields))  # a field hashes slowly; fields live as long as the process
    if key not in known:
        known[key] = [
            (position, converters)
            for position, field in enumerate(fields)
            if (
                converters := connection.ops.get_db_converters(field.cached_col)
                # Field.get_db_converters is Django's; django-stubs omit it.
                + field.get_db_converters(connection)  # type: ignore[attr-defined]
            )
        ]
    return known[key]


class _PreparedDebugCursor(CursorDebugWrapper):
    # psycopg does not resend a prepared statement's SQL, so it cannot tell Django what
    # ran; log the SQL with its parameters, as Django does with server-side binding.
    def execute(self, sql: _ExecuteQuery, params: _ExecuteParameters = None) -> Any:
        with self.debug_sql(self.db.ops.compose_sql(sql, params), params):
            return CursorWrapper.execute(self, sql, params)


class GuardTable(migrations.operations.base.Operation):
    """Install triggers that reject UPDATE (and optionally DELETE and TRUNCATE) on a
    model's table.

    `columns` limits the UPDATE guard to those columns, for rows that are immutable in
    content but still carry mutable bookkeeping.

    `reject_update=False` installs only the other guards, for a migration that adds them
    to a table whose UPDATE guard an earlier one installed; `kind` then names what the
    table is in the error ("append-only" or "immutable"), as the earlier guard does.

    TRUNCATE fires no row trigger, so its guard (PostgreSQL only) is a statement trigger.
    SQLite has no TRUNCATE: its `DELETE FROM` without WHERE fires the DELETE guard of
    each row (a table with triggers is never emptied by SQLite's truncate shortcut).

    `reinstall` is for a later migration that alters a guarded table: SQLite rebuilds the
    table to alter it, which drops its triggers. The guard belongs to the migration that
    first installed it, so a reinstall installs it again in both directions and never
    drops it. Such a migration lists it first and last: the last one runs after its
    rebuilds going forwards; the first one, after them going backwards (Django reverses
    operations in reverse order).
    """

    reversible = True
    reduces_to_sql = True

    def __init__(
        self,
        model_name: str,
        *,
        reject_update: bool = True,
        reject_delete: bool = True,
        reject_truncate: bool = False,
        columns: tuple[str, ...] = (),
        reinstall: bool = False,
        kind: str = "",
    ) -> None:
        self.model_name = model_name
        self.reject_update = reject_update
        self.reject_delete = reject_delete
        self.reject_truncate = reject_truncate
        self.columns = tuple(columns)
        self.reinstall = reinstall
        self.kind = kind

    @property
    def label(self) -> str:
        return self.kind or ("append-only" if self.reject_delete else "immutable")

    def operations(self, vendor: str) -> list[str]:
        return (
            (["UPDATE"] if self.reject_update else [])
            + (["DELETE"] if self.reject_delete else [])
            + (["TRUNCATE"] if self.reject_truncate and vendor == "postgresql" else [])
        )

    def create_sql(self, table: str, vendor: str) -> list[str]:
        """The statements that (re)install the guard on `table`.

        Idempotent, because SQLite drops a table's triggers whenever Django rebuilds the
        table to alter it: a migration that alters a guarded table must end with this
        operation again.
        """
        update_of = f"UPDATE OF {', '.join(self.columns)}" if self.columns else "UPDATE"
        statements = self.drop_sql(table, vendor)
        if vendor == "postgresql":
            statements.append(PG_GUARD_FUNCTION)
        for op in self.operations(vendor):
            event = update_of if op == "UPDATE" else op
            name = f"{table}_reject_{op.lower()}"
            if vendor == "sqlite":
                statements.append(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is {self.label}: {op} is not allowed'); "
                    f"END"
                )
            elif vendor == "postgresql":
                level = "STATEMENT" if op == "TRUNCATE" else "ROW"
                statements.append(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                    f"FOR EACH {level} EXECUTE FUNCTION crewboard_reject_change('{self.label}')"
                )
            else:
                raise NotImplementedError(f"No {self.label} guard for database vendor {vendor!r}")
        return statements

    def drop_sql(self, table: str, vendor: str) -> list[str]:
        suffix = f" ON {table}" if vendor == "postgresql" else ""
        return [
            f"DROP TRIGGER IF EXISTS {table}_reject_{op.lower()}{suffix}"
            for op in self.operations(vendor)
        ]

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass

    def _table(self, app_label: str, apps: StateApps) -> str:
        model: type[Model] = apps.get_model(app_label, self.model_name)
        return model._meta.db_table

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        table = self._table(app_label, to_state.apps)
        for statement in self.create_sql(table, schema_editor.connection.vendor):
            # params=None: the PL/pgSQL body contains '%' placeholders of its own.
            schema_editor.execute(statement, params=None)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if self.reinstall:
            self.database_forwards(app_label, schema_editor, from_state, to_state)
            return
        table = self._table(app_label, from_state.apps)
        for statement in self.drop_sql(table, schema_editor.connection.vendor):
            schema_editor.execute(statement, params=None)

    def describe(self) -> str:
        if self.reinstall:
            return f"Reinstall the {self.label} guard of {self.model_name}"
        if not self.reject_update:
            events = ["DELETE"] * self.reject_delete + ["TRUNCATE"] * self.reject_truncate
            return f"Make {self.model_name} reject {' and '.join(events)} in the database"
        return f"Make {self.model_name} {self.label} in the database"

    def deconstruct(self) -> tuple[str, list[str], dict[str, Any]]:
        kwargs: dict[str, Any] = {"reject_delete": self.reject_delete}
        if not self.reject_update:
            kwargs["reject_update"] = False
        if self.reject_truncate:
            kwargs["reject_truncate"] = True
        if self.columns:
            kwargs["columns"] = self.columns
        if self.reinstall:
            kwargs["reinstall"] = True
        if self.kind:
            kwargs["kind"] = self.kind
        return self.__class__.__name__, [self.model_name], kwargs
