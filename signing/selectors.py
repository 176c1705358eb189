"""Reads for the TUF endpoints and the management API.

Metadata is read from the database on every request, by one of two SQL statements composed
once at import: compiling the equivalent ORM query costs more than the indexed lookup itself,
and `timestamp.json` is the busiest URL of the fleet. There is deliberately no cache in the
process: with several gunicorn workers or nodes, one worker's copy could hand out a timestamp
older than one another worker already served, and a TUF client refuses such a rollback. The
database, read at request time, is the one place every worker agrees on the newest version.
"""

import re

from django.db import connection

from ota import rawsql
from signing.models import Bundle, BundleStatus, RoleMetadata

_HASHED_NAME = re.compile(r"^(?P<hash>[0-9a-f]{64}|[0-9a-f]{128})\.(?P<name>.+)$")


def _sql(*, latest: bool) -> str:
    """The statement for one role's newest (or one given) version, quoted for this backend.
    `%s` placeholders work on SQLite and PostgreSQL alike; the unique constraint on
    (repo, scope, role, version) is the index both statements use."""
    meta, quote = RoleMetadata._meta, connection.ops.quote_name
    column = {
        name: quote(meta.get_field(name).column)
        for name in ("repo", "scope", "role", "version", "raw")
    }
    where = f"{column['repo']} = %s AND {column['scope']} = %s AND {column['role']} = %s"
    tail = (
        f"ORDER BY {column['version']} DESC LIMIT 1" if latest else f"AND {column['version']} = %s"
    )
    # Only names from the model, quoted by the backend; the values are parameters.
    return f"SELECT {column['raw']} FROM {quote(meta.db_table)} WHERE {where} {tail}"  # noqa: S608


LATEST_METADATA_SQL = _sql(latest=True)
METADATA_VERSION_SQL = _sql(latest=False)


def metadata_bytes(
    repo: str, role: str, scope: str = "", *, version: int | None = None
) -> bytes | None:
    """The stored bytes of a role's given version, or of its newest one; one query."""
    if version is None:
        sql, params = LATEST_METADATA_SQL, [repo, scope, role]
    else:
        sql, params = METADATA_VERSION_SQL, [repo, scope, role, version]
    rows = rawsql.fetch(sql, params)
    # A BinaryField comes back as bytes on SQLite and as bytes or memoryview on PostgreSQL.
    return bytes(rows[0][0]) if rows else None


def published_bundle_for_target(target: str) -> Bundle | None:
    """A target URL is either the plain path or `{dir}/{hash}.{name}` (consistent snapshots)."""
    directory, _, filename = target.rpartition("/")
    hashed = _HASHED_NAME.match(filename)
    published = Bundle.objects.filter(status=BundleStatus.PUBLISHED)
    if hashed:
        path = f"{directory}/{hashed['name']}" if directory else hashed["name"]
        digest = hashed["hash"]
        field = "sha256" if len(digest) == 64 else "sha512"
        found = published.filter(path=path, **{field: digest}).first()
        if found:
            return found
    return published.filter(path=target).first()
