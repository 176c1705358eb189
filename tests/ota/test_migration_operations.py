"""An index a migration adds to a big table is built without stopping its writers: CONCURRENTLY
on PostgreSQL (ota/migration_operations.py), plainly on SQLite."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

# sqlmigrate opens a schema editor, which SQLite refuses inside a test's transaction.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

MIGRATIONS = [
    ("rollouts", "0025_list_orderings_indexed"),
    ("compliance", "0003_list_orderings_indexed"),
]


@pytest.mark.parametrize(("app", "migration"), MIGRATIONS)
def test_the_list_indexes_are_built_without_locking_out_writers(app, migration):
    out = StringIO()
    call_command("sqlmigrate", app, migration, stdout=out)
    statements = [s for s in out.getvalue().splitlines() if s.startswith("CREATE")]
    assert statements
    if connection.vendor == "postgresql":
        assert all(s.startswith("CREATE INDEX CONCURRENTLY") for s in statements)
        assert "BEGIN;" not in out.getvalue()  # outside a transaction, as CONCURRENTLY must be
    else:
        assert all(s.startswith("CREATE INDEX") for s in statements)
