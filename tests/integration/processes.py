"""What tests that start server processes on the test's PostgreSQL database share."""

from urllib.parse import quote

import pytest
from django.db import connection

# What every such test is: committed data the processes can read, on a database they can
# reach (SQLite's test database is in memory), and slow.
SERVER_PROCESS_TEST = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="server processes must share the test database (SQLite's is in memory): "
        "runs in the PostgreSQL pass of CI",
    ),
    pytest.mark.slow,
]


def database_url() -> str:
    """The test database, as a server process's DATABASE_URL."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    host = quote(db["HOST"] or "", safe="")
    return f"postgres://{quote(db['USER'] or '', safe='')}{password}@{host}{port}/{db['NAME']}"
