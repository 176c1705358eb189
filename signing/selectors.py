"""Reads for the TUF endpoints and the management API.

Metadata is read by hand-written statements composed once per process: compiling the
equivalent ORM query costs more than the indexed lookup itself. The newest version of a role
is the newest *servable* one (`RoleMetadata.serve_from`); the Image repository's
`timestamp.json`, the busiest URL of the fleet, is kept per process for a short lease on top of
that (signing/metadata_cache.py explains why no process can then serve an older version than
another has).
"""

import functools
import json
import re
from datetime import datetime

from django.db import connection

from ota import rawsql
from signing.metadata_cache import Newest
from signing.models import Bundle, BundleStatus, Delta, DeltaStatus, Repo, RoleMetadata

_HASHED_NAME = re.compile(r"^(?P<hash>[0-9a-f]{64}|[0-9a-f]{128})\.(?P<name>.+)$")


def _columns() -> dict[str, str]:
    meta, quote = RoleMetadata._meta, connection.ops.quote_name
    names = ("repo", "scope", "role", "version", "raw", "serve_from")
    return {name: quote(meta.get_field(name).column) for name in names} | {
        "table": quote(meta.db_table)
    }


@functools.cache
def _newest_sql(vendor: str) -> str:
    """The newest servable version of one role, the database's clock, and when the next newer
    version becomes servable. The unique constraint on (repo, scope, role, version) is the
    index it walks; only names from the model, quoted by the backend, and parameters."""
    c = _columns()
    # PostgreSQL's clock is every node's; SQLite's processes share one machine's.
    clock = "statement_timestamp()" if vendor == "postgresql" else "%s"
    role = "{t}.{repo} = %s AND {t}.{scope} = %s AND {t}.{role} = %s"
    return (
        f"SELECT m.{c['raw']}, m.{c['version']}, clock.now, "  # noqa: S608
        f"(SELECT MIN(p.{c['serve_from']}) FROM {c['table']} p "
        f"WHERE {role.format(t='p', **c)} AND p.{c['version']} > COALESCE(m.{c['version']}, 0)) "
        f"FROM (SELECT {clock} AS now) clock LEFT JOIN {c['table']} m "
        f"ON {role.format(t='m', **c)} "
        f"AND (m.{c['serve_from']} IS NULL OR m.{c['serve_from']} <= clock.now) "
        f"ORDER BY m.{c['version']} DESC LIMIT 1"
    )


@functools.cache
def _version_sql(vendor: str) -> str:
    c = _columns()
    return (
        f"SELECT {c['raw']} FROM {c['table']} WHERE {c['repo']} = %s "  # noqa: S608
        f"AND {c['scope']} = %s AND {c['role']} = %s AND {c['version']} = %s"
    )


def newest_metadata(repo: str, role: str, scope: str = "") -> Newest | None:
    """The newest servable version of a role; one statement."""
    params: list = [repo, scope, role, repo, scope, role]
    if connection.vendor != "postgresql":  # the clock, between the subquery and the join
        params.insert(3, connection.ops.adapt_datetimefield_value(rawsql.database_now()))
    rows = rawsql.fetch(_newest_sql(connection.vendor), params)
    raw, version, now, pending = rows[0]
    if raw is None:
        return None
    pending_in = (rawsql.aware(pending) - rawsql.aware(now)).total_seconds() if pending else None
    # A BinaryField comes back as bytes on SQLite and as bytes or memoryview on PostgreSQL.
    return Newest(bytes(raw), version, pending_in)


def metadata_bytes(
    repo: str, role: str, scope: str = "", *, version: int | None = None
) -> bytes | None:
    """The stored bytes of a role's given version, or of its newest servable one."""
    if version is None:
        newest = newest_metadata(repo, role, scope)
        return newest.raw if newest else None
    rows = rawsql.fetch(_version_sql(connection.vendor), [repo, scope, role, version])
    return bytes(rows[0][0]) if rows else None


def image_pending_until(now: datetime) -> datetime | None:
    """When the last stored Image version becomes servable, if one is still waiting."""
    return (
        RoleMetadata.objects.filter(repo=Repo.IMAGE, serve_from__gt=now)
        .order_by("-serve_from")
        .values_list("serve_from", flat=True)
        .first()
    )


def published_bundle_for_target(target: str) -> Bundle | Delta | None:
    """A target URL is either the plain path or `{dir}/{hash}.{name}` (consistent snapshots);
    the target a bundle, or a delta signed into the Image repository (both have a path, a
    length, hashes, a blob and regions: the download view serves them alike)."""
    if target.startswith("deltas/"):
        return _published(Delta.objects.filter(status=DeltaStatus.READY), target)
    return _published(Bundle.objects.filter(status=BundleStatus.PUBLISHED), target)


def _published(published, target: str):
    directory, _, filename = target.rpartition("/")
    hashed = _HASHED_NAME.match(filename)
    if hashed:
        path = f"{directory}/{hashed['name']}" if directory else hashed["name"]
        digest = hashed["hash"]
        field = "sha256" if len(digest) == 64 else "sha512"
        found = published.filter(path=path, **{field: digest}).first()
        if found:
            return found
    return published.filter(path=target).first()


@functools.cache
def _ready_deltas_sql(vendor: str, paths: int, sources: int) -> str:
    q = connection.ops.quote_name  # names from the models; values are parameters
    column = {f.name: q(f.column) for f in Delta._meta.concrete_fields}
    return (
        f"SELECT r.{q('path')}, s.{q('sha256')}, d.{column['path']}, d.{column['regions']} "  # noqa: S608
        f"FROM {q(Delta._meta.db_table)} d "
        f"JOIN {q(Bundle._meta.db_table)} r ON r.{q('id')} = d.{column['result']} "
        f"JOIN {q(Bundle._meta.db_table)} s ON s.{q('id')} = d.{column['source']} "
        f"WHERE d.{column['status']} = %s AND r.{q('path')} IN ({rawsql.marks(paths)}) "
        f"AND s.{q('sha256')} IN ({rawsql.marks(sources)})"
    )


def ready_deltas_between(
    *, results: set[str], sources: set[str]
) -> list[tuple[str, str, str, list[str]]]:
    """Ready deltas to an image with one of these paths from an image with one of these
    hashes: (result path, source sha256, delta path, regions it is copied to). A statement
    written once per shape: a vehicle's offer asks."""
    ordered_results, ordered_sources = sorted(results), sorted(sources)
    sql = _ready_deltas_sql(connection.vendor, len(ordered_results), len(ordered_sources))
    rows = rawsql.fetch(sql, [DeltaStatus.READY, *ordered_results, *ordered_sources])
    return [
        (result, source, path, json.loads(regions) if isinstance(regions, str) else regions)
        for result, source, path, regions in rows
    ]
