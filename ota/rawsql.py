"""Hand-written SQL for the few statements of the hot path, with model instances built the way
the ORM builds them (Django's own converters, `Model.from_db`).

Building and compiling a queryset costs several times what the database does for a lookup by
key, on every request; these statements are written once per process instead. Everything else
uses the ORM.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model

Converter = Callable[[Any, Any, Any], Any]


class Columns:
    """Some columns of one model under a table alias: their SELECT list, and instances from
    the values a row holds for them (the other fields load on access, like `only()`)."""

    def __init__(self, model: type[Model], names: Sequence[str], alias: str):
        self.model = model
        self.fields = [model._meta.get_field(name) for name in names]
        self.alias = alias
        self._converters: dict[str, list[list[Converter]]] = {}

    @property
    def table(self) -> str:
        return connection.ops.quote_name(self.model._meta.db_table)

    @property
    def sql(self) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)

    def build(self, values: Sequence[Any]) -> Model:
        converted = [
            _convert(value, field, converters)
            for value, field, converters in zip(
                values, self.fields, self._for_vendor(), strict=True
            )
        ]
        return self.model.from_db(
            connection.alias, [field.attname for field in self.fields], converted
        )

    def _for_vendor(self) -> list[list[Converter]]:
        vendor = connection.vendor
        if vendor not in self._converters:
            self._converters[vendor] = [
                connection.ops.get_db_converters(field.cached_col)
                + field.get_db_converters(connection)
                for field in self.fields
            ]
        return self._converters[vendor]


def _convert(value: Any, field, converters: list[Converter]) -> Any:
    for converter in converters:
        value = converter(value, field.cached_col, connection)
    return value


def fetch(sql: str, params: Sequence[Any]) -> list[tuple]:
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: Sequence[Any]) -> int:
    """Rows changed."""
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _cursor():
    """Django's cursor (its query log and execute wrappers included); on PostgreSQL one that
    binds parameters on the server and prepares the statement, so the server plans each of
    these once per connection (planning costs it more than running a lookup by key)."""
    if connection.vendor != "postgresql" or not settings.OTA_DB_PREPARE_HOT_STATEMENTS:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _PreparingCursor(connection.connection)
    wrapper = _LoggedCursor if connection.queries_logged else CursorWrapper
    return wrapper(raw, connection)


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
