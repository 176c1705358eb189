"""What tests that start server processes on the test's PostgreSQL database share."""

from urllib.parse import quote

from django.db import connection


def database_url() -> str:
    """The test database, as a server process's DATABASE_URL."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    host = quote(db["HOST"] or "", safe="")
    return f"postgres://{quote(db['USER'] or '', safe='')}{password}@{host}{port}/{db['NAME']}"
