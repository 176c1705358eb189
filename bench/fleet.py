"""What a car costs when something changes, at fleet size (issue 24), on PostgreSQL.

Loads N cars into a fresh, migrated database by COPY: each with three ECUs (the telematics
unit its primary), its own vehicle token (stored hashed as rollouts/tokens.py stores it), on
`stable`, with history: a completed release every car installed (an assignment and four
install events for 90 % of them), two health windows each, and a running head-unit rollout at
its first stage (10 %) that half of its bucket has been offered already. Rows are what the
server would hold after each car's last poll: installed images linked to published bundles,
decision versions and Director fields current. Cars the running rollout has not yet decided
for (its bucket's cars without an offer or with one open) are behind on the channel's decision
version, so their next poll decides. What is not loaded: each car's last manifest text and its
signed Director files (never read by a PUT; a car's first full decision signs them).

Then, in one run:

- idle PUT/s and offers/s at 16 connections: gunicorn (2 sync workers) on 127.0.0.1 and
  Debian's wrk (bench/_load.py), idle runs before and after each offer run. An offer is a
  car of the running stage's bucket sending its first manifest since: it takes the full
  decision, gets its assignment, and its Director metadata is signed and stored. The ratio is
  each offer run's rate over the mean of the idle runs on either side (median of the rounds).
- offers' lock waits: every 10 ms, the database's client backends running a statement, and
  of those the share waiting on a heavyweight lock (row locks wait as `Lock:transactionid` or
  `Lock:tuple`), with the kinds seen. And the hold of a counter row: from the counter UPDATE to
  the end of the commit, over offers made one at a time in this process.
- full decisions after `advance` 10 % → 20 %: a random sample of the channel's cars polls
  once (the settling poll), the rollout advances, and the sample polls again in this process
  through the service the view calls; a full decision is a call of
  `rollouts.services.manifests._receive_and_decide`. Printed: the share of the channel that
  took one, the share newly bucketed (bucket in [10 %, 20 %), rollouts/targeting.py), and
  full decisions ÷ (newly bucketed + cars with an open assignment of the rollout). Then
  `pause`, a third poll: cars with no assignment of the paused rollout that took a full one.
- the evaluator (rollouts/services/evaluation.py) on a running rollout with 10⁴ and then 10⁶
  assignments (at most one per car: with fewer cars, the sizes are printed as measured), and
  on one with 10⁵ stale installs (downloading or installing, started before the time-out), in
  a fresh process: its time, its peak memory over its idle size (VmHWM after clearing it), and
  the longest open transaction seen in pg_stat_activity every 10 ms.

A short table, then a JSON line. Targets are printed as met or not, never failed.

    .venv/bin/python -m bench.fleet [--cars 100000] [--seconds 5] [--rounds 3] [--sample 4000]
        [--connections 16] [--workers 2]

PostgreSQL only: BENCH_DATABASE_URL=postgres://… names the server; a new database is made on
it and dropped at the end. Needs `wrk` (apt-get install wrk). `make bench-fleet` runs it.
"""

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

FIRST, SECOND = 10, 20  # the running rollout's first two stages, percent of the channel
BUCKETS = 10_000  # rollouts/targeting.py
CHANNEL = "stable"
# (serial prefix, hardware id, primary): the demo fleet's three ECUs every car has.
ECUS = [("TCU", "tcu-gen3", True), ("HU", "hu-gen7", False), ("BMS", "bms-v2", False)]
IDLE_CARS = 1000  # cars that send the idle PUTs (at least _load.SPREAD per connection)
HOLD_OFFERS = 100  # offers made one at a time, to time the counter row's hold
EVALUATOR_SIZES = (10_000, 1_000_000)  # assignments of the evaluated rollout
STALE = 100_000  # stale installs the evaluator meets
TARGETS = {
    "offer_ratio": ("≥", 0.25),
    "lock_share": ("<", 0.01),
    "advance_ratio": ("≤", 1.1),
    "paused_full": ("=", 0),
    "evaluator_ratio": ("≤", 1.5),
    "stale_peak_mib": ("≤", 50),
    "stale_longest_s": ("≤", 2.0),
}


# --- pure helpers ----------------------------------------------------------------------------


class State:
    """Where a car stands in the running rollout (see `car_state`)."""

    OUTSIDE = 0  # not in the first stage's bucket
    POOL = 1  # in it, not offered yet: its next poll is an offer
    OPEN = 2  # offered, not finished
    INSTALLED = 3  # succeeded: its head unit runs the release
    FAILED = 4


def car_state(n: int, bucket: int) -> int:
    """Half the first stage's bucket is offered already (by car number, so every run is
    alike); of those, a tenth is under way and one in fifty failed."""
    if bucket >= FIRST * BUCKETS // 100:
        return State.OUTSIDE
    if n % 20 < 10:
        return State.POOL
    if n % 20 == 10:
        return State.OPEN
    return State.FAILED if n % 100 == 99 else State.INSTALLED


def vin_of(n: int) -> str:
    """A valid, unique VIN per car number (up to 10⁷ cars)."""
    from rollouts.vin import with_check_digit

    return with_check_digit(f"WNXFLEET0R{n:07d}")


def token_of(key: bytes, n: int) -> tuple[str, str]:
    """(public id, plaintext) of car `n`'s token: its secret is derived from the run's key, so
    any car's token can be told again without keeping a million of them."""
    public_id = f"{n:016x}"
    digest = hmac.new(key, n.to_bytes(8, "big"), hashlib.sha256).digest()
    secret = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return public_id, f"vt_{public_id}_{secret}"


def sequential_uuid(kind: int, n: int) -> str:
    """Ids that grow with `n`: the primary key's index is appended to, not written all over,
    which is what keeps millions of rows loading in seconds."""
    digits = f"{kind:08x}{n:024x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def met(name: str, value: float | None) -> str:
    if value is None:
        return "not measured"
    sign, bound = TARGETS[name]
    ok = {"≥": value >= bound, "<": value < bound, "≤": value <= bound, "=": value == bound}[sign]
    shown = f"{bound:.0%}" if name == "lock_share" else f"{bound:g}"
    return f"{sign} {shown} {'met' if ok else 'not met'}"


# --- COPY ------------------------------------------------------------------------------------


def copy_rows(model, names: list[str], rows: Iterable[tuple], *, now: datetime) -> int:
    """COPY `rows` (values of the fields `names`, in that order) into the model's table. Every
    other column gets its field's default (`now` for auto_now ones) or the database's own, so
    a column added later with a default needs nothing here; one without a default stops the
    load, named."""
    from django.db import connection
    from psycopg import sql

    given = [model._meta.get_field(name) for name in names]
    fixed = []
    for column in model._meta.concrete_fields:
        if column in given or column.primary_key or column.has_db_default():
            continue
        if getattr(column, "auto_now", False) or getattr(column, "auto_now_add", False):
            value = now
        else:
            value = column.get_db_prep_save(column.get_default(), connection)
            if value is None and not column.null:
                raise SystemExit(f"bench.fleet does not know what to load into {column}")
        fixed.append((column, value))
    columns = [f.column for f in given] + [f.column for f, _ in fixed]
    constants = tuple(value for _, value in fixed)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    connection.ensure_connection()
    count = 0
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row + constants)
            count += 1
    return count


def vacuum_analyze(models) -> None:
    """What autovacuum would do soon after the load, done before anything is measured: the
    planner sees the sizes, and no vacuum runs beside the measured requests."""
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")


# --- the fleet -------------------------------------------------------------------------------


@dataclass
class Fleet:
    cars: int
    key: bytes = field(default_factory=lambda: os.urandom(32))
    rows: dict[str, int] = field(default_factory=dict)

    def prepare(self) -> None:
        """The bundles the cars run, the release they all installed, and the running rollout."""
        from cryptography.hazmat.primitives.asymmetric import ed25519

        from bench._django import people, published_bundle, running_rollout
        from rollouts.models import Channel, Release, ReleaseBundle, Rollout
        from signing.public_keys import parse_public_key
        from signing.services.bundles import BundleSpec
        from vehicle_client.ecu import SimEcu

        self.engineer, self.approver = people()
        # One ECU key pair for the whole fleet: signing keys per car would cost the load
        # minutes and the server nothing more.
        self.ecu_key = ed25519.Ed25519PrivateKey.generate()
        public = parse_public_key(SimEcu("x", "x", private_key=self.ecu_key).public_key)
        self.public_key, self.keyid = json.dumps(public.key), public.keyid
        self.base = {
            hardware: published_bundle(
                BundleSpec(f"{hardware}/fleet-1.0.bin", hardware, "1.0.0", 100)
            )
            for _prefix, hardware, _primary in ECUS
        }
        now = datetime.now(UTC)
        self.history_release = Release.objects.create(
            version="fleet-history",
            status="approved",
            created_by=self.engineer,
            approved_by=self.approver,
            approved_at=now - timedelta(days=40),
        )
        for hardware, bundle in self.base.items():
            ReleaseBundle.objects.create(
                release=self.history_release, bundle=bundle, hardware_id=hardware
            )
        self.history = Rollout.objects.create(
            release=self.history_release,
            channel=Channel.objects.get(name=CHANNEL),
            status="completed",
            created_by=self.engineer,
            approved_by=self.approver,
            started_at=now - timedelta(days=40),
            stage_started_at=now - timedelta(days=35),
            finished_at=now - timedelta(days=30),
            stages=[{"percent": 100, "min_soak_minutes": 0, "gate": "auto"}],
            policy={},
        )
        stage = {"min_soak_minutes": 600, "gate": "manual", "max_duration_minutes": 6000}
        self.rollout = running_rollout(
            stages=[{"percent": p, **stage} for p in (FIRST, SECOND, 100)]
        )
        self.new_bundle = self.rollout.release.items.get().bundle
        self.channel = Channel.objects.get(name=CHANNEL)

    def load(self) -> float:
        """COPY the cars and their history; the seconds it took."""
        from django.core.management.color import no_style
        from django.db import connection

        from rollouts.models import (
            Assignment,
            Ecu,
            HealthWindow,
            InstallEvent,
            Vehicle,
            VehicleToken,
            VehicleType,
        )
        from rollouts.services.counters import count
        from rollouts.targeting import bucket

        start = time.perf_counter()
        self.now = now = datetime.now(UTC)
        self.first_id = (Vehicle.objects.order_by("-pk").values_list("pk", flat=True).first()) or 0
        self.first_id += 1
        salt = self.rollout.salt
        self.vins = [vin_of(n) for n in range(self.cars)]
        self.states = bytes(car_state(n, bucket(salt, vin)) for n, vin in enumerate(self.vins))
        self.rows["vehicles"] = copy_rows(Vehicle, *self._vehicles(), now=now)
        # What provisioning keeps beside the cars: each market's vehicle types.
        VehicleType.objects.bulk_create(
            [VehicleType(market=region, model="Aurora") for region in ("US", "EU", "CN")],
            ignore_conflicts=True,
        )
        self.rows["ECUs"] = copy_rows(Ecu, *self._ecus(), now=now)
        self.rows["tokens"] = copy_rows(VehicleToken, *self._tokens(), now=now)
        self.rows["assignments"] = copy_rows(Assignment, *self._assignments(), now=now)
        self.rows["install events"] = copy_rows(InstallEvent, *self._events(), now=now)
        self.rows["health windows"] = copy_rows(HealthWindow, *self._windows(), now=now)
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [Vehicle]):
                cursor.execute(statement)
        # What the running stage's offers, installs and failures counted as they happened.
        made = Counter(self.states)
        count(
            rollout_id=self.rollout.pk,
            stage_index=0,
            offered=made[State.OPEN] + made[State.INSTALLED] + made[State.FAILED],
            downloading=made[State.OPEN] // 2,
            succeeded=made[State.INSTALLED],
            failed_install=made[State.FAILED],
        )
        vacuum_analyze([Vehicle, Ecu, VehicleToken, Assignment, InstallEvent, HealthWindow])
        return time.perf_counter() - start

    def serial(self, prefix: str, n: int) -> str:
        return f"{prefix}-{n:07d}"

    def _vehicles(self):
        from rollouts.services.director import entries_fingerprint
        from signing.director import director_refresh_due
        from vehicle_client.policy import POLICY_VERSION

        now = self.now
        seen = now - timedelta(hours=1)
        nothing = entries_fingerprint([])  # what a decision that offers nothing signs
        refresh = director_refresh_due(vin=self.vins[0], signed_at=seen)
        decided = self.channel.decision_version
        names = [
            "id",
            "vin",
            "model",
            "region",
            "channel",
            "install_policy_version",
            "last_seen_at",
            "report_counter",
            "last_manifest_at",
            "director_fingerprint",
            "director_targets_version",
            "director_refresh_at",
            "inputs_version",
            "decided_inputs_version",
            "decided_channel_version",
        ]
        regions = ("US", "EU", "CN")

        def rows():
            for n, vin in enumerate(self.vins):
                behind = self.states[n] in (State.POOL, State.OPEN)
                yield (
                    self.first_id + n,
                    vin,
                    "Aurora",
                    regions[n % 3],
                    self.channel.pk,
                    POLICY_VERSION,
                    seen,
                    0,
                    seen,
                    "" if behind else nothing,
                    0 if behind else 1,
                    None if behind else refresh,
                    1,
                    1,
                    decided - 1 if behind else decided,
                )

        return names, rows()

    def installed(self, n: int, hardware: str):
        """The bundle an ECU of car `n` runs."""
        if hardware == self.new_bundle.hardware_id and self.states[n] == State.INSTALLED:
            return self.new_bundle
        return self.base[hardware]

    def _ecus(self):
        names = [
            "vehicle",
            "serial",
            "hardware_id",
            "primary",
            "public_key",
            "keyid",
            "installed_path",
            "installed_sha256",
            "installed_length",
            "installed_bundle",
            "installed_at",
        ]
        since = self.now - timedelta(days=30)

        def rows():
            for n in range(self.cars):
                for prefix, hardware, primary in ECUS:
                    bundle = self.installed(n, hardware)
                    yield (
                        self.first_id + n,
                        self.serial(prefix, n),
                        hardware,
                        primary,
                        self.public_key,
                        self.keyid,
                        bundle.path,
                        bundle.sha256,
                        bundle.length,
                        bundle.pk,
                        since,
                    )

        return names, rows()

    def _tokens(self):
        from rollouts.tokens import hash_secret, split_token

        def rows():
            for n in range(self.cars):
                public_id, plaintext = token_of(self.key, n)
                _public, secret = split_token(plaintext)
                yield (self.first_id + n, public_id, hash_secret(secret))

        return ["vehicle", "public_id", "secret_hash"], rows()

    def history_assigned(self, n: int) -> bool:
        return n % 10 != 0

    def _assignments(self):
        names = [
            "id",
            "rollout",
            "vehicle",
            "status",
            "stage_index",
            "started_at",
            "created_at",
            "finished_at",
        ]
        past = self.now - timedelta(days=35)
        recent = self.now - timedelta(days=2)
        under_way = self.now - timedelta(minutes=10)

        def rows():
            for n in range(self.cars):
                car = self.first_id + n
                if self.history_assigned(n):
                    status = "failed" if n % 50 == 1 else "succeeded"
                    yield (sequential_uuid(1, n), self.history.pk, car, status, 0, past, past, past)
                state = self.states[n]
                if state == State.OPEN:
                    status = "downloading" if n % 40 == 10 else "offered"
                    started = under_way if status == "downloading" else None
                    yield (
                        sequential_uuid(2, n),
                        self.rollout.pk,
                        car,
                        status,
                        0,
                        started,
                        recent,
                        None,
                    )
                elif state in (State.INSTALLED, State.FAILED):
                    status = "succeeded" if state == State.INSTALLED else "failed"
                    yield (
                        sequential_uuid(2, n),
                        self.rollout.pk,
                        car,
                        status,
                        0,
                        recent,
                        recent,
                        recent,
                    )

        return names, rows()

    def _events(self):
        names = ["id", "vehicle", "assignment", "correlation_id", "ecu_serial", "type", "at"]
        steps = ["download_started", "download_completed", "install_started"]

        def rows():
            for n in range(self.cars):
                if not self.history_assigned(n):
                    continue
                assignment = sequential_uuid(1, n)
                serial = self.serial("HU", n)
                at = self.now - timedelta(days=35, minutes=-(n % 600))
                done = "install_failed" if n % 50 == 1 else "install_succeeded"
                for step, kind in enumerate([*steps, done]):
                    yield (
                        sequential_uuid(3, 4 * n + step),
                        self.first_id + n,
                        assignment,
                        assignment,
                        serial,
                        kind,
                        at + timedelta(minutes=step),
                    )

        return names, rows()

    def _windows(self):
        names = [
            "id",
            "vehicle",
            "start",
            "end",
            "driving_seconds",
            "ignition_cycles",
            "crashes",
            "reboots",
            "installed",
            "release",
        ]

        def rows():
            for n in range(self.cars):
                installed = json.dumps(
                    {
                        self.serial(prefix, n): self.installed(n, hardware).path
                        for prefix, hardware, _primary in ECUS
                    }
                )
                for day in (1, 2):
                    start = self.now - timedelta(days=day, minutes=n % 600)
                    yield (
                        sequential_uuid(4, 2 * n + day),
                        self.first_id + n,
                        start,
                        start + timedelta(hours=1),
                        3000,
                        2,
                        0,
                        0,
                        installed,
                        self.history_release.pk if self.history_assigned(n) else None,
                    )

        return names, rows()

    # --- the cars as the reference client ---

    def client(self, n: int, base: str = "http://127.0.0.1"):
        """Car `n` as the reference vehicle client, its report counter past the loaded one."""
        from vehicle_client.client import VehicleClient
        from vehicle_client.ecu import InstalledImage, SimEcu

        ecus = []
        for prefix, hardware, primary in ECUS:
            bundle = self.installed(n, hardware)
            image = InstalledImage(
                bundle.path, bundle.length, bundle.sha256, bundle.release_counter
            )
            ecus.append(
                SimEcu(
                    self.serial(prefix, n),
                    hardware,
                    primary,
                    private_key=self.ecu_key,
                    installed=image,
                )
            )
        _public, token = token_of(self.key, n)
        workdir = Path("/nonexistent")  # no metadata is fetched: only manifests are signed
        return VehicleClient(base, self.vins[n], token, ecus, workdir)

    def numbers(self, state: int) -> list[int]:
        return [n for n, s in enumerate(self.states) if s == state]


# --- polls in this process -------------------------------------------------------------------


def poll(client) -> None:
    """One manifest PUT through what the view calls: authentication's read, then the service."""
    from rollouts.selectors import vehicle_for_token
    from rollouts.services.manifests import vehicle_manifest_receive

    vehicle = vehicle_for_token(token=client.token, with_ecus=True)
    manifest = client.manifest()
    vehicle_manifest_receive(vehicle=vehicle, manifest=manifest, raw=json.dumps(manifest))


@contextmanager
def full_decisions() -> Iterator[set[int]]:
    """The vehicle ids that took the full decision path while inside."""
    from rollouts.services import manifests

    taken: set[int] = set()
    full = manifests._receive_and_decide

    def counted(vehicle_pk, *args, **kwargs):
        taken.add(vehicle_pk)
        return full(vehicle_pk, *args, **kwargs)

    with mock.patch.object(manifests, "_receive_and_decide", counted):
        yield taken


def counter_holds(clients: list) -> list[float]:
    """Seconds from each offer's counter UPDATE to the end of its commit, offers one at a time."""
    from django.db import connection, transaction

    from rollouts.models import RolloutCounter

    table = connection.ops.quote_name(RolloutCounter._meta.db_table)
    holds: list[float] = []

    def timing(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith(f"UPDATE {table}") and connection.in_atomic_block:
            began = time.perf_counter()
            transaction.on_commit(lambda: holds.append(time.perf_counter() - began))
        return result

    with connection.execute_wrapper(timing):
        for client in clients:
            poll(client)
    return holds


def scoped_wakes(fleet: Fleet, sample: list[int]) -> dict:
    """Full decisions in `sample` after an advance 10 % → 20 % and after a pause."""
    from rollouts.models import Assignment, Rollout
    from rollouts.models.rollouts import OPEN
    from rollouts.services.rollouts import rollout_advance, rollout_pause
    from rollouts.targeting import bucket

    clients = [fleet.client(n) for n in sample]
    ids = {fleet.first_id + n: n for n in sample}

    def poll_all() -> set[int]:
        with full_decisions() as taken:
            for client in clients:
                poll(client)
        return taken

    settling = poll_all()
    mine = Assignment.objects.filter(rollout=fleet.rollout, vehicle_id__in=ids)
    open_ = set(mine.filter(status__in=OPEN).values_list("vehicle_id", flat=True))
    low, high = FIRST * BUCKETS // 100, SECOND * BUCKETS // 100
    new = {v for v, n in ids.items() if low <= bucket(fleet.rollout.salt, fleet.vins[n]) < high}
    rollout = Rollout.objects.get(pk=fleet.rollout.pk)
    started = time.perf_counter()
    rollout_advance(rollout=rollout, actor=fleet.approver, reason="benchmark")
    advance_s = time.perf_counter() - started
    advanced = poll_all()
    concerned = new | open_
    assigned = set(mine.values_list("vehicle_id", flat=True))
    rollout = Rollout.objects.get(pk=fleet.rollout.pk)
    started = time.perf_counter()
    rollout_pause(rollout=rollout, actor=fleet.approver, reason="benchmark")
    pause_s = time.perf_counter() - started
    paused = poll_all()
    unassigned = set(ids) - assigned
    return {
        "sample": len(sample),
        "settling_full": len(settling),
        "advance_full": len(advanced),
        "advance_share": share(len(advanced), len(sample)),
        "newly_bucketed": len(new),
        "newly_bucketed_share": share(len(new), len(sample)),
        "open_assignments": len(open_),
        "advance_ratio": share(len(advanced), len(concerned)),
        "advance_outside": len(advanced - concerned),
        "advance_s": advance_s,
        "paused_unassigned": len(unassigned),
        "paused_full": len(paused & unassigned),
        "pause_s": pause_s,
    }


# --- pg_stat_activity ------------------------------------------------------------------------


class Activity:
    """The benchmark database's client backends in a transaction, every `every` seconds, from a
    connection of its own (left out, as are the harness's other ones)."""

    SQL = (
        "SELECT state, wait_event_type, wait_event,"
        " extract(epoch FROM clock_timestamp() - xact_start)::float8"
        " FROM pg_stat_activity WHERE datname = current_database()"
        " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        " AND application_name NOT LIKE 'ota-bench%' AND xact_start IS NOT NULL"
    )

    def __init__(self, url: str, every: float = 0.01):
        import psycopg

        self.connection = psycopg.connect(
            url, autocommit=True, application_name="ota-bench-activity"
        )
        self.every = every
        self.rows: list[tuple] = []
        self._stop = threading.Event()

    def __enter__(self) -> "Activity":
        self.rows, self._stop = [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.rows.extend(self.connection.execute(self.SQL).fetchall())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def waiting(self) -> tuple[int, int, Counter]:
        """(statements running, of those waiting on a lock, lock waits by kind)."""
        active = [row for row in self.rows if row[0] == "active"]
        locked = [row for row in active if row[1] == "Lock"]
        return len(active), len(locked), Counter(row[2] for row in locked)

    def longest(self) -> float:
        return max((row[3] for row in self.rows), default=0.0)

    def close(self) -> None:
        self.connection.close()


# --- under load ------------------------------------------------------------------------------


def contact(clients: list, base: str) -> None:
    """One manifest per car over HTTP (a few at a time): what the idle runs send after."""
    from concurrent.futures import ThreadPoolExecutor

    import urllib3

    http = urllib3.PoolManager(maxsize=4)

    def put(client) -> None:
        headers = {"Authorization": f"Bearer {client.token}", "Content-Type": "application/json"}
        path = f"/api/v1/vehicles/{client.vin}/manifest"
        answer = http.request(
            "PUT", f"{base}{path}", body=json.dumps(client.manifest()), headers=headers
        )
        if answer.status != 200:
            raise SystemExit(f"PUT {path}: {answer.status} {answer.data[:300]!r}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(put, clients))


@dataclass
class Offers:
    """Offer runs: each car of the pool sends one manifest, its first since the stage began.
    A run gets a fair part of the cars left, at most four times what the best rate so far
    would take; a run that runs out of them is kept and said so (its rate is a lower bound)."""

    load: object
    pool: list
    rounds: int
    best_rate: float = 0.0
    ran_out: int = 0
    signing_seconds: float = 0.0

    def run(self, seconds: float, activity: Activity):
        from bench import _load

        fair = len(self.pool) // max(1, self.rounds)
        wanted = fair if not self.best_rate else min(fair, int(4 * self.best_rate * seconds))
        mine, self.pool = self.pool[:wanted], self.pool[wanted:]
        self.rounds -= 1
        started = time.perf_counter()
        lines = [
            [
                _load.line(
                    "PUT",
                    f"/api/v1/vehicles/{c.vin}/manifest",
                    c.token,
                    json.dumps(c.manifest()),
                )
                for c in part
            ]
            for part in _load.split(mine, _load.THREADS)
        ]
        prefix = self.load.write("offers", lines)
        self.signing_seconds += time.perf_counter() - started
        with activity:
            result = self.load.run(prefix, seconds=seconds, cycle=False)
        self.ran_out += result.exhausted
        self.best_rate = max(self.best_rate, result.rate)
        return result


def under_load(fleet: Fleet, args, idle: list, pool: list, workdir: Path) -> dict:
    """Idle runs on either side of each offer run; the lock picture of the offer runs."""
    from bench import _load

    server = _load.Gunicorn(workers=args.workers)
    url = os.environ["DATABASE_URL"]
    database = _load.PostgresBackends(url)
    activity = Activity(url)
    try:
        with server:
            load = _load.Load(server, workdir, args.connections, database)
            for client in idle + pool:
                client.base_url = server.base
            contact(idle, server.base)
            manifests = _load.Manifests(load, idle)
            offers = Offers(load, pool, args.rounds)
            manifests.run(1)  # warm-up, thrown away
            idle_runs = [manifests.run(args.seconds)]
            offer_runs, active, locked, kinds = [], 0, 0, Counter()
            for _ in range(args.rounds):
                offer_runs.append(offers.run(args.seconds, activity))
                a, w, k = activity.waiting()
                active, locked, kinds = active + a, locked + w, kinds + k
                idle_runs.append(manifests.run(args.seconds))
    finally:
        activity.close()
        database.close()
    ratios = [
        run.rate / ((idle_runs[i].rate + idle_runs[i + 1].rate) / 2)
        for i, run in enumerate(offer_runs)
    ]
    failed = sum(run.failures for run in idle_runs + offer_runs)
    return {
        "idle_put_rate": statistics.median(run.rate for run in idle_runs),
        "idle_db_ms": statistics.median(run.db_ms() for run in idle_runs),
        "idle_app_ms": statistics.median(run.app_ms() for run in idle_runs),
        "offer_rate": statistics.median(run.rate for run in offer_runs),
        "offer_db_ms": statistics.median(run.db_ms() for run in offer_runs),
        "offer_app_ms": statistics.median(run.app_ms() for run in offer_runs),
        "offers": sum(run.requests for run in offer_runs),
        "offer_ratio": statistics.median(ratios),
        "offer_runs_ran_out": offers.ran_out,
        "lock_samples": active,
        "lock_waits": locked,
        "lock_share": share(locked, active),
        "lock_kinds": dict(kinds),
        "non_200": failed,
    }


# --- the evaluator ---------------------------------------------------------------------------


def _status_kib(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise SystemExit(f"/proc/self/status has no {name}")


def _evaluate_alone(rollout_id: int, answers) -> None:
    """In a fresh process: one evaluation, its seconds and its peak memory over idle."""
    import django

    django.setup()
    from rollouts.models import Rollout
    from rollouts.services.evaluation import rollout_evaluate

    Rollout.objects.get(pk=rollout_id)  # connected, modules loaded: idle
    idle = _status_kib("VmRSS")
    # VmHWM starts again from here; where it cannot, the peak is the process's whole life's
    # (an upper bound).
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    evaluation = rollout_evaluate(rollout_id=rollout_id)
    answers.put(
        {
            "seconds": time.perf_counter() - started,
            "peak_mib": (_status_kib("VmHWM") - idle) / 1024,
            "outcome": evaluation.outcome,
            "timed_out": evaluation.numbers.get("timed_out_now"),
        }
    )


def _answer_of(child, answers) -> dict:
    import queue

    while True:
        try:
            answer = answers.get(timeout=1)
        except queue.Empty:
            if not child.is_alive():
                raise SystemExit(f"the evaluating process exited ({child.exitcode})") from None
            continue
        child.join()
        return answer


def evaluator(fleet: Fleet, repeat: int) -> dict:
    """The evaluator's time at two sizes of one running rollout, and meeting stale installs."""
    import multiprocessing

    from django.db import connections

    from bench._django import published_bundle, running_rollout, timed
    from rollouts.models import Assignment
    from rollouts.services.evaluation import rollout_evaluate
    from signing.services.bundles import BundleSpec

    stage = [
        {"percent": 100, "min_soak_minutes": 6000, "gate": "auto", "max_duration_minutes": 60000}
    ]
    small, large = (min(size, fleet.cars) for size in EVALUATOR_SIZES)
    small = min(small, large // 10)
    spec = BundleSpec("bms-v2/fleet-2.0.bin", "bms-v2", "2.0.0", 200)
    measured = running_rollout(stages=stage, bundle=published_bundle(spec), version="fleet-eval")

    def assign(rollout, numbers: range, status: str, started: datetime, kind: int) -> None:
        now = datetime.now(UTC)
        rows = (
            (sequential_uuid(kind, n), rollout.pk, fleet.first_id + n, status, 0, started, now)
            for n in numbers
        )
        names = ["id", "rollout", "vehicle", "status", "stage_index", "started_at", "created_at"]
        copy_rows(Assignment, names, rows, now=now)
        vacuum_analyze([Assignment])

    result = {}
    recent = datetime.now(UTC) - timedelta(hours=1)
    done = 0
    for label, size in (("small", small), ("large", large)):
        assign(measured, range(done, size), "succeeded", recent, 5)
        done = size
        rollout_evaluate(rollout_id=measured.pk)  # warm: the first after a load reads cold pages
        result[label] = {
            "assignments": size,
            "seconds": timed(lambda: rollout_evaluate(rollout_id=measured.pk), repeat),
        }
    result["ratio"] = share(result["large"]["seconds"], result["small"]["seconds"])

    stale = min(STALE, fleet.cars)
    spec = BundleSpec("tcu-gen3/fleet-2.0.bin", "tcu-gen3", "2.0.0", 200)
    stalled = running_rollout(stages=stage, bundle=published_bundle(spec), version="fleet-stale")
    timeout = timedelta(minutes=stalled.policy["install_timeout_minutes"])
    old = datetime.now(UTC) - timeout - timedelta(hours=1)
    half = stale // 2
    assign(stalled, range(half), "downloading", old, 6)
    assign(stalled, range(half, stale), "installing", old, 6)
    connections.close_all()  # the child's transactions are the only ones seen
    context = multiprocessing.get_context("spawn")
    answers = context.Queue()
    child = context.Process(target=_evaluate_alone, args=(stalled.pk, answers))
    activity = Activity(os.environ["DATABASE_URL"])
    try:
        with activity:
            child.start()
            answer = _answer_of(child, answers)
    finally:
        activity.close()
    result["stale"] = {"installs": stale, **answer, "longest_transaction_s": activity.longest()}
    return result


# --- the run ---------------------------------------------------------------------------------


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cars", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="offer runs")
    parser.add_argument("--sample", type=int, default=4000, help="cars polled around advance")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--repeat", type=int, default=5, help="evaluations timed per size")
    args = parser.parse_args(argv)
    from bench import _load
    from bench._django import django_up, postgres_server_url

    if postgres_server_url() is None:
        raise SystemExit("bench.fleet runs on PostgreSQL: set BENCH_DATABASE_URL=postgres://…")
    _load.require_wrk()
    if args.cars < 2000:
        raise SystemExit("--cars must be at least 2000: the stage's bucket feeds the offer runs")
    began = time.perf_counter()
    var = django_up()
    from django.db import connections

    fleet = Fleet(args.cars)
    fleet.prepare()
    load_seconds = fleet.load()
    rng = random.Random(24)  # noqa: S311  (which cars, not secrets)
    outside = fleet.numbers(State.OUTSIDE)
    rng.shuffle(outside)
    pool = fleet.numbers(State.POOL)
    rng.shuffle(pool)
    idle = [fleet.client(n) for n in outside[:IDLE_CARS]]
    timed_alone = min(HOLD_OFFERS, len(pool) // 5)  # most of the pool is for the offer runs
    holds = counter_holds([fleet.client(n) for n in pool[:timed_alone]])
    offer_pool = [fleet.client(n) for n in pool[timed_alone:]]
    connections.close_all()  # only the server's connections count as its CPU
    loaded = under_load(fleet, args, idle, offer_pool, var)
    tried = set(outside[:IDLE_CARS]) | set(pool)
    sample = rng.sample([n for n in range(fleet.cars) if n not in tried], args.sample)
    wakes = scoped_wakes(fleet, sample)
    evaluation = evaluator(fleet, args.repeat)
    result = {
        "database": "postgresql",
        "cars": args.cars,
        "rows": fleet.rows,
        "load_seconds": load_seconds,
        **loaded,
        "counter_hold_ms": {
            "median": statistics.median(holds) * 1000,
            "p90": statistics.quantiles(holds, n=10)[-1] * 1000,
            "offers": len(holds),
        },
        "wakes": wakes,
        "evaluator": evaluation,
        "seconds": time.perf_counter() - began,
    }
    report(result, args)
    return result


def report(r: dict, args) -> None:
    from bench import _load

    rows = ", ".join(f"{n:,} {name}" for name, n in r["rows"].items())
    print(
        f"Fleet at scale (postgresql): {r['cars']:,} cars loaded by COPY in "
        f"{r['load_seconds']:.0f} s ({rows})"
    )
    print(
        f"  gunicorn {args.workers} sync workers, wrk -t {_load.THREADS} -c {args.connections}; "
        f"{args.rounds} offer runs of {args.seconds} s between idle runs"
    )
    w, e, hold = r["wakes"], r["evaluator"], r["counter_hold_ms"]
    stale = e["stale"]
    lock_kinds = ", ".join(f"{k} {n}" for k, n in sorted(r["lock_kinds"].items())) or "none"
    ran_out = f" ({r['offer_runs_ran_out']} ran out of cars)" if r["offer_runs_ran_out"] else ""
    table = [
        ("idle PUT/s", f"{r['idle_put_rate']:.1f}", ""),
        ("offers/s" + ran_out, f"{r['offer_rate']:.1f}", ""),
        ("offers/s ÷ idle PUT/s", f"{r['offer_ratio']:.3f}", met("offer_ratio", r["offer_ratio"])),
        (
            "server CPU per idle PUT / offer, app + DB ms",
            f"{r['idle_app_ms']:.1f}+{r['idle_db_ms']:.1f} / "
            f"{r['offer_app_ms']:.1f}+{r['offer_db_ms']:.1f}",
            "",
        ),
        (
            f"offer statements waiting on a lock ({r['lock_samples']:,} sampled)",
            f"{r['lock_share']:.1%}",
            met("lock_share", r["lock_share"]),
        ),
        ("  lock waits by kind", lock_kinds, ""),
        (
            f"counter row hold, one offer at a time (median / p90 of {hold['offers']})",
            f"{hold['median']:.2f} / {hold['p90']:.2f} ms",
            "",
        ),
        (
            f"advance {FIRST}→{SECOND} %: sampled cars taking a full decision",
            f"{w['advance_full']:,} of {w['sample']:,} ({w['advance_share']:.1%})",
            "",
        ),
        ("  newly bucketed", f"{w['newly_bucketed']:,} ({w['newly_bucketed_share']:.1%})", ""),
        ("  with an open assignment of the rollout", f"{w['open_assignments']:,}", ""),
        (
            "  full ÷ (newly bucketed + open)",
            f"{w['advance_ratio']:.2f}",
            met("advance_ratio", w["advance_ratio"]),
        ),
        (
            "pause: cars with no assignment of it taking a full decision",
            f"{w['paused_full']:,} of {w['paused_unassigned']:,}",
            met("paused_full", w["paused_full"]),
        ),
        (
            f"evaluator at {e['small']['assignments']:,} / {e['large']['assignments']:,} "
            "assignments",
            f"{e['small']['seconds'] * 1000:.1f} / {e['large']['seconds'] * 1000:.1f} ms",
            "",
        ),
        ("  ratio", f"{e['ratio']:.2f}", met("evaluator_ratio", e["ratio"])),
        (
            f"evaluator meeting {stale['installs']:,} stale installs ({stale['outcome']})",
            f"{stale['seconds']:.2f} s",
            "",
        ),
        (
            "  peak memory over idle",
            f"{stale['peak_mib']:.1f} MiB",
            met("stale_peak_mib", stale["peak_mib"]),
        ),
        (
            "  longest transaction seen",
            f"{stale['longest_transaction_s']:.2f} s",
            met("stale_longest_s", stale["longest_transaction_s"]),
        ),
    ]
    width = max(len(name) for name, _v, _t in table) + 2
    print(f"  {'measure':<{width}}{'figure':>24}  target")
    for name, value, target in table:
        print(f"  {name:<{width}}{value:>24}  {target}")
    if r["non_200"]:
        print(f"  {r['non_200']} answers were not 200 (or failed at the socket)")
    print(f"  {r['seconds']:.0f} s in all")
    print(json.dumps(r, default=str))


if __name__ == "__main__":
    main()
