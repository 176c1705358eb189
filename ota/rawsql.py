"""Hand-written SQL for the few statements of the hot path, with model instances built the way
the ORM builds them (Django's own converters, `Model.from_db`).

Building and compiling a queryset costs several times what the database does for a lookup by
key, on every request; these statements are written once per process instead. Everything else
uses the ORM.
"""

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

Converter = Callable[[Any, Any, Any], Any]


class Columns:
    """Some columns of one model under a table alias: their SELECT list, and instances from
    the values a row holds for them (the other fields load on access, like `only()`)."""

    def __init__(self, model: type[Model], names: Sequence[str], alias: str):
        self.model = model
        # In the model's order, whatever the caller's: `from_db` takes values in that order.
        order = {field.name: index for index, field in enumerate(model._meta.concrete_fields)}
        self.fields = [model._meta.get_field(name) for name in sorted(names, key=order.__getitem__)]
        self.attnames = [field.attname for field in self.fields]
        self.alias = alias
        self._converters: dict[str, list[tuple[Any, list[Converter]]]] = {}

    @property
    def table(self) -> str:
        return connection.ops.quote_name(self.model._meta.db_table)

    @property
    def sql(self) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)

    def build(self, values: Sequence[Any]) -> Model:
        db = connections[DEFAULT_DB_ALIAS]
        converted = list(values)
        for index, (column, converters) in self._for_vendor(db):
            value = converted[index]
            for converter in converters:
                value = converter(value, column, db)
            converted[index] = value
        return self.model.from_db(db.alias, self.attnames, converted)

    def _for_vendor(self, db) -> list[tuple[int, tuple[Any, list[Converter]]]]:
        """The columns that have converters on this backend, with them."""
        if db.vendor not in self._converters:
            found = []
            for index, field in enumerate(self.fields):
                converters = db.ops.get_db_converters(field.cached_col)
                converters += field.get_db_converters(db)
                if converters:
                    found.append((index, (field.cached_col, converters)))
            self._converters[db.vendor] = found
        return self._converters[db.vendor]


def marks(count: int) -> str:
    """Placeholders for `count` parameters, as in `IN (…)`."""
    return ", ".join(["%s"] * count)


def insert(instance: Model) -> None:
    """Save a new instance as the ORM's `create` would (field defaults and `auto_now`, the
    database's conversions), by a statement written once per model; no signals are sent
    (the project connects none to model saves). The primary key must be set by a default."""
    if instance.pk is None:
        raise ValueError(f"{type(instance).__name__}: rawsql.insert needs a primary key default")
    db = connections[DEFAULT_DB_ALIAS]
    fields = instance._meta.concrete_fields
    values = [field.get_db_prep_save(field.pre_save(instance, True), db) for field in fields]
    execute(_insert_sql(type(instance), db.vendor), values)
    instance._state.adding, instance._state.db = False, db.alias


@functools.cache
def _insert_sql(model: type[Model], vendor: str) -> str:
    q = connection.ops.quote_name
    columns = ", ".join(q(field.column) for field in model._meta.concrete_fields)
    values = marks(len(model._meta.concrete_fields))
    return f"INSERT INTO {q(model._meta.db_table)} ({columns}) VALUES ({values})"  # noqa: S608


def update(
    model: type[Model],
    where: dict[str, Any],
    *,
    values: dict[str, Any] | None = None,
    copied: dict[str, str] | None = None,
    added: dict[str, int] | None = None,
) -> int:
    """UPDATE the rows whose fields equal `where`: `values` set (converted as the ORM would),
    `copied` field: the field whose stored value it takes, `added` field: an amount the
    database adds to it (F() expressions, evaluated in the same statement). Rows changed."""
    db = connections[DEFAULT_DB_ALIAS]
    values, copied, added = values or {}, copied or {}, added or {}
    shape = (tuple(sorted(values)), tuple(sorted(copied.items())), tuple(sorted(added)))
    keys = tuple(sorted(where))
    sql = _update_sql(model, db.vendor, keys, *shape)
    given = [(name, values[name]) for name in shape[0]] + [(n, added[n]) for n in shape[2]]
    given += [(name, where[name]) for name in keys]
    field = model._meta.get_field
    return execute(sql, [field(name).get_db_prep_save(value, db) for name, value in given])


@functools.cache
def _update_sql(
    model: type[Model],
    vendor: str,
    keys: tuple[str, ...],
    values: tuple[str, ...],
    copied: tuple[tuple[str, str], ...],
    added: tuple[str, ...],
) -> str:
    q = connection.ops.quote_name

    def column(name: str) -> str:
        return q(model._meta.get_field(name).column)

    sets = [f"{column(name)} = %s" for name in values]
    sets += [f"{column(name)} = {column(source)}" for name, source in copied]
    sets += [f"{column(name)} = {column(name)} + %s" for name in added]
    match = " AND ".join(f"{column(name)} = %s" for name in keys)
    return f"UPDATE {q(model._meta.db_table)} SET {', '.join(sets)} WHERE {match}"  # noqa: S608


def fetch(sql: str, params: Sequence[Any]) -> list[tuple]:
    db = connections[DEFAULT_DB_ALIAS]
    if _direct(db):
        return _execute_prepared(db, sql, params).fetchall()
    with _cursor(db) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: Sequence[Any]) -> int:
    """Rows changed."""
    db = connections[DEFAULT_DB_ALIAS]
    if _direct(db):
        return _execute_prepared(db, sql, params).rowcount
    with _cursor(db) as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def database_now() -> datetime:
    """The database's clock, which every node shares (PostgreSQL's `clock_timestamp()`, not
    the transaction's start); on SQLite, whose processes share one machine, this one's. Wall
    time, never a simulation's (`timezone.now` may be one): leases are real seconds."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        return datetime.now(UTC)
    with db.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def aware(value: datetime | str) -> datetime:
    """A timestamp as a raw statement returns it: a datetime, or SQLite's text in UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _direct(db) -> bool:
    """PostgreSQL with prepared hot statements, and nobody watching the queries (a test's
    query log, an execute wrapper): then the statement goes straight to a psycopg cursor."""
    return (
        db.vendor == "postgresql"
        and settings.OTA_DB_PREPARE_HOT_STATEMENTS
        and not db.queries_logged
        and not db.execute_wrappers
    )


def _execute_prepared(db, sql: str, params: Sequence[Any]):
    """What Django's cursor does around a statement (health check, connection, broken
    transaction, error translation), without its per-statement wrapping; one cursor per
    connection, binding parameters on the server and preparing the statement, so the server
    plans each of these once per connection (planning costs it more than a lookup by key)."""
    raw = _connected(db)
    db.validate_no_broken_transaction()
    kept = getattr(db, "_ota_hot_cursor", None)
    if kept is None or kept[0] is not raw:
        kept = db._ota_hot_cursor = (raw, _PreparingCursor(raw))
    with db.wrap_database_errors:
        return kept[1].execute(sql, params)


def _cursor(db):
    """Django's cursor (its query log and execute wrappers included); on PostgreSQL one that
    binds parameters on the server and prepares the statement."""
    if db.vendor != "postgresql" or not settings.OTA_DB_PREPARE_HOT_STATEMENTS:
        return db.cursor()
    raw = _connected(db)
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        cursor = _PreparingCursor(raw)
    wrapper = _LoggedCursor if db.queries_logged else CursorWrapper
    return wrapper(cursor, db)


def _connected(db):
    """The open psycopg connection, as Django's own cursor() would find it."""
    db.close_if_health_check_failed()
    db.ensure_connection()
    return db.connection


class _LoggedCursor(CursorDebugWrapper):
    """Logs the statement as written: psycopg keeps no text of a prepared execution for
    Django to read back."""

    def execute(self, sql, params=None):
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


try:
    import psycopg

    class _PreparingCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, prepare=True, **kwargs)

except ImportError:  # SQLite only: psycopg is not needed
    _PreparingCursor = None
