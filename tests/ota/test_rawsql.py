"""The hot path's hand-written statements behave like the ORM's: same errors, same
transactions, same query log; on PostgreSQL they go to one prepared cursor per connection."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from ota import rawsql
from rollouts.models import Channel

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL only: runs in the PostgreSQL pass of CI"
)
TABLE = Channel._meta.db_table
SELECT_NAMES = f"SELECT name FROM {TABLE} ORDER BY name"  # noqa: S608
UPDATE_TITLE = f"UPDATE {TABLE} SET title = %s WHERE name = %s"  # noqa: S608
BAD_COLUMN = f"SELECT no_such_column FROM {TABLE}"  # noqa: S608


def names() -> list[str]:
    return [row[0] for row in rawsql.fetch(SELECT_NAMES, [])]


@pytest.mark.django_db
def test_a_statement_sees_the_transaction_it_runs_in():
    with transaction.atomic():
        Channel.objects.create(name="rawsql-check", title="Raw", position=99)
        assert "rawsql-check" in names()
        changed = rawsql.execute(UPDATE_TITLE, ["T", "rawsql-check"])
        assert changed == 1
    assert Channel.objects.get(name="rawsql-check").title == "T"


@pytest.mark.django_db
def test_an_error_is_djangos_and_breaks_the_atomic_block_like_the_orms():
    with transaction.atomic():
        with pytest.raises(DatabaseError), transaction.atomic(savepoint=False):
            rawsql.fetch(BAD_COLUMN, [])
        with pytest.raises(TransactionManagementError):
            names()
    assert isinstance(names(), list)  # the connection is usable after the block


@pytest.mark.django_db
def test_statements_are_in_the_query_log_that_tests_read():
    with CaptureQueriesContext(connection) as queries:
        names()
    assert len(queries) == 1
    assert queries[0]["sql"].startswith("SELECT name FROM")


@postgresql_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_cursor_per_connection_and_a_new_one_after_a_reconnect():
    names()
    first = connection._ota_hot_cursor
    names()
    assert connection._ota_hot_cursor is first
    connection.close()
    names()
    assert connection._ota_hot_cursor is not first
    assert connection._ota_hot_cursor[0] is connection.connection


@pytest.mark.django_db
def test_columns_named_in_any_order_build_the_instance_they_were_read_from():
    channel = Channel.objects.create(name="rawsql-cols", title="Columns", position=98)
    columns = rawsql.Columns(Channel, ["title", "position", "id", "name"], "c")
    sql = f"SELECT {columns.sql} FROM {columns.table} c WHERE c.id = %s"  # noqa: S608

    (row,) = rawsql.fetch(sql, [channel.pk])
    built = columns.build(row)

    assert (built.pk, built.name, built.title, built.position) == (
        channel.pk,
        "rawsql-cols",
        "Columns",
        98,
    )
