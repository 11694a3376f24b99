"""Database-level guards that Django has no declarative API for, and helpers for hot
statements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, migrations
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.migrations.state import ProjectState, StateApps
from django.db.models import Field, Model
from django.db.transaction import TransactionManagementError

from core.db_values import built_instance

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


def references_checked_now(using: str = DEFAULT_DB_ALIAS) -> None:
    """Check the foreign keys of the rows this transaction wrote so far now, not at its
    commit (PostgreSQL defers them there; SQLite checks at the commit as before).

    The same checks either way, but a broken reference is raised where the rows were
    written, inside the writer's savepoint, and the wait for a large write's checks (a
    20,000-row import's take a good part of a second) can overlap the process's other
    work (planning.version_content). Every deferrable constraint in the schema starts
    DEFERRED (Django's foreign keys), so setting them all DEFERRED again afterwards
    changes nothing else."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        # SET CONSTRAINTS ALL IMMEDIATE, then DEFERRED again for later statements.
        connection.check_constraints()


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
