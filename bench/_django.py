"""Start Django for a benchmark on a fresh database: SQLite in a temporary directory by default,
or a new PostgreSQL database on the server that BENCH_DATABASE_URL (or a PostgreSQL
DATABASE_URL) names, dropped again at exit. Migrated and with signing keys."""

import atexit
import os
import secrets
import shutil
import sys
import tempfile
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SCHEMES = ("postgres", "postgresql")


def django_up() -> Path:
    var = Path(tempfile.mkdtemp(prefix="ota-bench-"))
    atexit.register(shutil.rmtree, var, ignore_errors=True)
    os.environ["OTA_VAR_DIR"] = str(var)
    server = postgres_server_url()
    os.environ["DATABASE_URL"] = (
        fresh_postgres_database(server) if server else f"sqlite:///{var / 'bench.sqlite3'}"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ota.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("ota_init", stdout=StringIO())
    return var


def use_new_database() -> None:
    """Move this process to another new database on the same PostgreSQL server, migrated and
    with signing keys (dropped at exit): a benchmark that compares sizes in one run."""
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connections

    server = postgres_server_url()
    if server is None:
        raise SystemExit("use_new_database needs PostgreSQL (BENCH_DATABASE_URL)")
    url = fresh_postgres_database(server)
    connections.close_all()
    connections["default"].settings_dict["NAME"] = urlsplit(url).path.lstrip("/")
    os.environ["DATABASE_URL"] = url
    cache.clear()
    call_command("migrate", verbosity=0)
    call_command("ota_init", stdout=StringIO())


def postgres_server_url() -> str | None:
    """The PostgreSQL server to run on, if any. Its own database is only used to connect."""
    url = os.environ.get("BENCH_DATABASE_URL") or ""
    if url and urlsplit(url).scheme not in POSTGRES_SCHEMES:
        raise SystemExit(f"BENCH_DATABASE_URL must be a postgres:// URL, not {url!r}.")
    if not url and urlsplit(os.environ.get("DATABASE_URL", "")).scheme in POSTGRES_SCHEMES:
        url = os.environ["DATABASE_URL"]
    return url or None


def fresh_postgres_database(server: str) -> str:
    """Create an empty database with a new name, registered to be dropped at exit; its URL.
    The database named in `server` is never written to: a benchmark cannot spoil it."""
    import psycopg

    prefix = os.environ.get("BENCH_DATABASE_PREFIX") or "ota_bench"
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(server, autocommit=True) as admin:
            # FORCE: a server process that outlived its benchmark must not keep the database.
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


def people():
    """An engineer and an approver (four eyes), as the services want them."""
    from django.contrib.auth.models import Group, User

    from rollouts.roles import APPROVER, RELEASE_ENGINEER

    engineer, _ = User.objects.get_or_create(username="bench-engineer")
    approver, _ = User.objects.get_or_create(username="bench-approver")
    engineer.groups.add(Group.objects.get(name=RELEASE_ENGINEER))
    approver.groups.add(Group.objects.get(name=APPROVER))
    return engineer, approver


def published_bundle(spec):
    """A bundle of a few random KiB for `spec` (a signing BundleSpec), ingested and published."""
    import io

    from signing.services.bundles import bundle_ingest_file, bundle_publish

    bundle = bundle_ingest_file(spec=spec, stream=io.BytesIO(os.urandom(4096)), actor=None)
    bundle, _ = bundle_publish(bundle=bundle, actor=None)
    return bundle


def running_rollout(*, stages=None, policy=None, bundle=None, version: str = "bench"):
    """A published bundle (a head-unit one unless given), released as `version` and rolled
    out to `stable`, running."""
    from compliance.services.approvals import markets_approve_unaffected
    from rollouts.models import Channel
    from rollouts.services import releases, rollouts
    from signing.services.bundles import BundleSpec

    engineer, approver = people()
    if bundle is None:
        spec = BundleSpec(
            path="hu-gen7/bench.bin", hardware_id="hu-gen7", version="9.0.0", release_counter=900
        )
        bundle = published_bundle(spec)
    release = releases.release_create(
        spec=releases.ReleaseSpec(version=version, notes="", bundle_ids=[bundle.pk]),
        actor=engineer,
    )
    releases.release_approve(release=release, actor=approver)
    markets_approve_unaffected(release=release, actor=approver, rationale="Benchmark release.")
    rollout = rollouts.rollout_create(
        release=release,
        channel=Channel.objects.get(name="stable"),
        actor=engineer,
        stages=stages
        or [
            {"percent": 100, "min_soak_minutes": 600, "gate": "auto", "max_duration_minutes": 6000}
        ],
        policy=policy,
    )
    rollouts.rollout_approve(rollout=rollout, actor=approver)
    return rollouts.rollout_start(rollout=rollout, actor=approver, override_reason="benchmark")


def timed(function, repeat: int) -> float:
    """Median seconds of `repeat` calls."""
    import statistics
    import time

    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
