"""Reads of the fleet."""

import functools
import json
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from ota import rawsql
from ota.rawsql import Columns
from rollouts import install_policy
from rollouts.models import (
    Assignment,
    AssignmentStatus,
    Channel,
    Cohort,
    CohortKind,
    Ecu,
    Release,
    ReleaseBundle,
    Rollout,
    RolloutStatus,
    Vehicle,
    VehicleToken,
)
from rollouts.models.rollouts import OFFERING, SETTLEABLE
from rollouts.targeting import narrow
from rollouts.tokens import secret_matches, split_token
from signing.models import Bundle, BundleStatus

# What a vehicle request needs of its vehicle and channel, read with the token in one
# statement written once (ota/rawsql.py): authentication runs on every poll.
_VEHICLE = Columns(
    Vehicle,
    [
        "id",
        "vin",
        "model",
        "region",
        "install_policy_version",
        "channel",
        "created_at",
        "last_seen_at",
        "report_counter",
        "director_fingerprint",
        "director_targets_version",
        "director_refresh_at",
        "director_timestamp",
        "inputs_version",
        "decided_inputs_version",
        "decided_channel_version",
        "poll_pending",
    ],
    "v",
)
_CHANNEL = Columns(
    Channel,
    ["id", "name", "title", "position", "self_service", "decision_version", "decision_changes"],
    "c",
)
# What the Director metadata GET reads: its answer is on the vehicle row (the other fields
# load on access, a query each; the statement-count tests would show one).
_METADATA_VEHICLE = Columns(
    Vehicle, ["id", "vin", "last_seen_at", "director_refresh_at", "director_timestamp"], "v"
)


@dataclass(frozen=True)
class EcuKey:
    """What a manifest is checked against: an ECU's key and the image it last reported."""

    serial: str
    hardware_id: str
    primary: bool
    keyid: str
    public_key: dict
    installed_path: str
    installed_sha256: str


_ECU_COLUMNS = (
    "serial",
    "hardware_id",
    "primary",
    "keyid",
    "public_key",
    "installed_path",
    "installed_sha256",
)


def _ecu_key(values) -> EcuKey:
    serial, hardware_id, primary, keyid, public_key, path, sha256 = values
    if isinstance(public_key, str):  # JSON text on SQLite (and from Django's jsonb loader)
        public_key = json.loads(public_key)
    return EcuKey(serial, hardware_id, bool(primary), keyid, public_key, path, sha256)


def _ecu_columns(prefix: str = "") -> str:
    q = connection.ops.quote_name
    return ", ".join(f"{prefix}{q(Ecu._meta.get_field(name).column)}" for name in _ECU_COLUMNS)


@functools.cache
def _token_sql(vendor: str, with_ecus: bool) -> str:
    q = connection.ops.quote_name  # names from the models; values are parameters
    ecus = _ecu_columns("e.")
    return (
        f"SELECT t.{q('secret_hash')}, {_VEHICLE.sql}, {_CHANNEL.sql} "
        + (f", {ecus} " if with_ecus else "")
        + f"FROM {q(VehicleToken._meta.db_table)} t "
        f"JOIN {_VEHICLE.table} v ON v.{q('id')} = t.{q('vehicle_id')} "
        f"JOIN {_CHANNEL.table} c ON c.{q('id')} = v.{q('channel_id')} "
        + (
            f"LEFT JOIN {q(Ecu._meta.db_table)} e ON e.{q('vehicle_id')} = v.{q('id')} "
            if with_ecus
            else ""
        )
        + f"WHERE t.{q('public_id')} = %s AND t.{q('revoked_at')} IS NULL"
    )


def vehicle_for_token(*, token: str, with_ecus: bool = False) -> Vehicle | None:
    """The vehicle an active token belongs to, with its channel, or None. One query;
    `with_ecus` reads its ECUs' keys in the same one (`vehicle.poll_ecus`), for a manifest."""
    rows = _token_rows(token, _token_sql(connection.vendor, with_ecus))
    if not rows:
        return None
    row, split = rows[0], 1 + len(_VEHICLE.fields)
    end = split + len(_CHANNEL.fields)
    vehicle = _VEHICLE.build(row[1:split])
    vehicle.channel = _CHANNEL.build(row[split:end])
    if with_ecus:
        vehicle.poll_ecus = [_ecu_key(r[end:]) for r in rows if r[end] is not None]
    return vehicle


@functools.cache
def _metadata_token_sql(vendor: str) -> str:
    q = connection.ops.quote_name  # names from the models; the value is a parameter
    return (
        f"SELECT t.{q('secret_hash')}, {_METADATA_VEHICLE.sql} "  # noqa: S608
        f"FROM {q(VehicleToken._meta.db_table)} t "
        f"JOIN {_METADATA_VEHICLE.table} v ON v.{q('id')} = t.{q('vehicle_id')} "
        f"WHERE t.{q('public_id')} = %s AND t.{q('revoked_at')} IS NULL"
    )


def vehicle_for_metadata_token(*, token: str) -> Vehicle | None:
    """The vehicle an active token belongs to, with only what serving its Director metadata
    reads (VIN, last seen, the timestamp and its refresh time), or None. One narrow query:
    every car asks for its timestamp on every poll."""
    rows = _token_rows(token, _metadata_token_sql(connection.vendor))
    return _METADATA_VEHICLE.build(rows[0][1:]) if rows else None


def _token_rows(token: str, sql: str) -> list[tuple]:
    """The rows `sql` finds for the token's public id, if its secret matches; the first
    column is the stored hash of the secret."""
    parts = split_token(token)
    if parts is None:
        return []
    public_id, secret = parts
    rows = rawsql.fetch(sql, [public_id])
    if not rows or not secret_matches(secret, rows[0][0]):
        return []
    return rows


@functools.cache
def _ecus_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    table = q(Ecu._meta.db_table)
    return f"SELECT {_ecu_columns()} FROM {table} WHERE {q('vehicle_id')} = %s"  # noqa: S608


def vehicle_ecus_for_poll(*, vehicle: Vehicle) -> list[EcuKey]:
    """What a manifest is checked against, unless authentication read it already."""
    known = getattr(vehicle, "poll_ecus", None)
    if known is not None:
        return known
    return [_ecu_key(row) for row in rawsql.fetch(_ecus_sql(connection.vendor), [vehicle.pk])]


# --- a vehicle locked for a decision --------------------------------------------------------


def _every_column(model, alias: str) -> Columns:
    return Columns(model, [field.name for field in model._meta.concrete_fields], alias)


_LOCKED_VEHICLE = _every_column(Vehicle, "v")
_LOCKED_CHANNEL = _every_column(Channel, "c")
_ECU = _every_column(Ecu, "e")
_INSTALLED = _every_column(Bundle, "ib")


@functools.cache
def _locked_vehicle_sql(vendor: str, with_ecus: bool) -> str:
    q = connection.ops.quote_name  # names from the models; the value is a parameter
    ecus = f", {_ECU.sql}, {_INSTALLED.sql}" if with_ecus else ""
    joins = (
        f"LEFT JOIN {_ECU.table} e ON e.{q('vehicle_id')} = v.{q('id')} "
        f"LEFT JOIN {_INSTALLED.table} ib ON ib.{q('id')} = e.{q('installed_bundle_id')} "
        if with_ecus
        else ""
    )
    # Only the vehicle's own row is locked: locking the channel's too would queue every poll
    # of the channel behind the others (and behind a halt).
    lock = " FOR UPDATE OF v" if connection.features.has_select_for_update_of else ""
    order = f" ORDER BY e.{q('primary')} DESC, e.{q('serial')}" if with_ecus else ""
    return (
        f"SELECT {_LOCKED_VEHICLE.sql}, {_LOCKED_CHANNEL.sql}{ecus} "  # noqa: S608
        f"FROM {_LOCKED_VEHICLE.table} v JOIN {_LOCKED_CHANNEL.table} c ON c.{q('id')} = "
        f"v.{q('channel_id')} {joins}WHERE v.{q('id')} = %s{order}{lock}"
    )


def vehicle_locked(*, pk: int, with_ecus: bool = False) -> tuple[Vehicle, list[Ecu]]:
    """The vehicle's row, locked until the transaction ends (rollouts/locks.py), with its
    channel, and with its ECUs and their installed bundles if asked: one statement."""
    rows = rawsql.fetch(_locked_vehicle_sql(connection.vendor, with_ecus), [pk])
    if not rows:
        raise Vehicle.DoesNotExist(f"No vehicle {pk}")
    split = len(_LOCKED_VEHICLE.fields)
    end = split + len(_LOCKED_CHANNEL.fields)
    vehicle = _LOCKED_VEHICLE.build(rows[0][:split])
    vehicle.channel = _LOCKED_CHANNEL.build(rows[0][split:end])
    ecus = []
    for row in rows if with_ecus else ():
        if row[end] is None:
            continue
        ecu = _ECU.build(row[end : end + len(_ECU.fields)])
        installed = row[end + len(_ECU.fields) :]
        ecu.installed_bundle = _INSTALLED.build(installed) if installed[0] is not None else None
        ecu.vehicle = vehicle
        ecus.append(ecu)
    return vehicle, ecus


# --- what a full decision reads, in one statement -----------------------------------------


_ROLLOUT = _every_column(Rollout, "r")
_RELEASE = _every_column(Release, "rel")
_COHORT = _every_column(Cohort, "co")
_ASSIGNMENT = _every_column(Assignment, "a")
_ITEM = _every_column(ReleaseBundle, "rb")
_BUNDLE = _every_column(Bundle, "b")
_PARTS = (_ROLLOUT, _RELEASE, _COHORT, _ASSIGNMENT, _ITEM, _BUNDLE)


@dataclass
class DecisionReads:
    """The rollouts that can concern a vehicle, read with their releases, bundles, cohorts
    and the vehicle's assignments in them."""

    offering: list[Rollout]  # offering to its channel, a later channel's or a recall
    kept: list[Rollout]  # not offering, but the vehicle has an assignment still open in it
    assigned: dict[int, Assignment]  # rollout id: the vehicle's assignment in it, any status

    @property
    def open(self) -> list[Assignment]:
        """Assignments that may still change: open, timed out and still able to succeed, or
        succeeded by event and awaiting a manifest."""
        return [
            a
            for a in self.assigned.values()
            if a.status in SETTLEABLE
            or (a.status == AssignmentStatus.SUCCEEDED and a.awaiting_manifest)
        ]


@functools.cache
def _decision_sql(vendor: str) -> str:
    q = connection.ops.quote_name  # names from the models; values are parameters
    rollout, channel = q(Rollout._meta.db_table), q(Channel._meta.db_table)
    assignment = q(Assignment._meta.db_table)
    two, settleable = rawsql.marks(len(OFFERING)), rawsql.marks(len(SETTLEABLE))
    # Each branch by its own index: the car's channel, later channels, recalls, and the
    # rollouts of the car's own unfinished assignments (`offers` 0: kept only for those).
    found = (
        f"SELECT r.{q('id')} AS id, 1 AS offers FROM {rollout} r "  # noqa: S608
        f"WHERE r.{q('channel_id')} = %s AND r.{q('status')} IN ({two}) "
        f"UNION ALL SELECT r.{q('id')}, 1 FROM {rollout} r "
        f"JOIN {channel} ch ON ch.{q('id')} = r.{q('channel_id')} "
        f"WHERE ch.{q('position')} > %s AND r.{q('status')} = %s "
        f"UNION ALL SELECT r.{q('id')}, 1 FROM {rollout} r "
        f"WHERE r.{q('safety_recall')} = %s AND r.{q('status')} IN ({two}) "
        f"UNION ALL SELECT a.{q('rollout_id')}, 0 FROM {assignment} a "
        f"WHERE a.{q('vehicle_id')} = %s AND (a.{q('status')} IN ({settleable}) "
        f"OR (a.{q('status')} = %s AND a.{q('awaiting_manifest')} = %s))"
    )
    columns = ", ".join(part.sql for part in _PARTS)
    return (
        f"SELECT o.offers, {columns} FROM "  # noqa: S608
        f"(SELECT id, MAX(offers) AS offers FROM ({found}) found GROUP BY id) o "
        f"JOIN {_ROLLOUT.table} r ON r.{q('id')} = o.id "
        f"JOIN {_RELEASE.table} rel ON rel.{q('id')} = r.{q('release_id')} "
        f"LEFT JOIN {_COHORT.table} co ON co.{q('id')} = r.{q('cohort_id')} "
        f"LEFT JOIN {_ASSIGNMENT.table} a ON a.{q('rollout_id')} = r.{q('id')} "
        f"AND a.{q('vehicle_id')} = %s "
        f"LEFT JOIN {_ITEM.table} rb ON rb.{q('release_id')} = rel.{q('id')} "
        f"LEFT JOIN {_BUNDLE.table} b ON b.{q('id')} = rb.{q('bundle_id')} "
        f"ORDER BY r.{q('created_at')} DESC, r.{q('id')}, rb.{q('id')}"
    )


def vehicle_decision_reads(*, vehicle: Vehicle) -> DecisionReads:
    """Everything a full decision for the vehicle reads of rollouts, in one statement written
    once (ota/rawsql.py): compiling the querysets this replaces cost an offer more than the
    database did. `vehicle` with its channel."""
    params = [
        vehicle.channel_id,
        *OFFERING,
        vehicle.channel.position,
        RolloutStatus.COMPLETED,
        True,
        *OFFERING,
        vehicle.pk,
        *SETTLEABLE,
        AssignmentStatus.SUCCEEDED,
        True,
        vehicle.pk,
    ]
    reads = DecisionReads([], [], {})
    rollouts: dict[int, Rollout] = {}
    releases: dict[int, Release] = {}
    items_read: set[int] = set()  # a release's items come once per rollout of it
    for row in rawsql.fetch(_decision_sql(connection.vendor), params):
        values, start = [], 1
        for part in _PARTS:
            values.append(row[start : start + len(part.fields)])
            start += len(part.fields)
        rollout_id = values[0][0]
        rollout = rollouts.get(rollout_id)
        if rollout is None:
            rollout = rollouts[rollout_id] = _ROLLOUT.build(values[0])
            release = releases.get(rollout.release_id)
            if release is None:
                release = releases[rollout.release_id] = _RELEASE.build(values[1])
                _prefetched(release, "items", [])
            rollout.release = release
            rollout.cohort = _COHORT.build(values[2]) if values[2][0] is not None else None
            (reads.offering if row[0] else reads.kept).append(rollout)
            if values[3][0] is not None:
                assignment = _ASSIGNMENT.build(values[3])
                assignment.rollout, assignment.vehicle = rollout, vehicle
                reads.assigned[rollout_id] = assignment
        if values[4][0] is not None and values[4][0] not in items_read:
            items_read.add(values[4][0])
            item = _ITEM.build(values[4])
            item.release, item.bundle = rollout.release, _BUNDLE.build(values[5])
            rollout.release._prefetched_objects_cache["items"]._result_cache.append(item)
    return reads


def _prefetched(instance, name: str, objects: list) -> None:
    """Hold `objects` as `instance.<name>.all()`, as prefetch_related would."""
    queryset = getattr(instance, name).all()
    queryset._result_cache, queryset._prefetch_done = objects, True
    instance._prefetched_objects_cache = {name: queryset}


def vehicle_get(*, vin: str) -> Vehicle | None:
    return vehicle_detail_queryset().filter(vin=vin).first()


def vehicle_detail_queryset() -> QuerySet[Vehicle]:
    return Vehicle.objects.select_related("channel").prefetch_related("ecus__installed_bundle")


def vehicle_list(
    *, region: str | None = None, model: str | None = None, channel: str | None = None
) -> QuerySet[Vehicle]:
    qs = vehicle_detail_queryset()
    if region:
        qs = qs.filter(region=region)
    if model:
        qs = qs.filter(model=model)
    if channel:
        qs = qs.filter(channel__name=channel)
    return qs


def cohort_vehicles(*, cohort: Cohort) -> QuerySet[Vehicle]:
    """The vehicles a cohort holds now, as a query: the same rule as `targeting.in_cohort`
    (a test holds the two to agreement), for counts and lists without loading the fleet."""
    if cohort.kind == CohortKind.STATIC:
        return Vehicle.objects.filter(cohort_memberships__cohort=cohort)
    vehicles = Vehicle.objects.all()
    if cohort.model_names:
        vehicles = vehicles.filter(model__in=cohort.model_names)
    if cohort.regions:
        vehicles = vehicles.filter(region__in=cohort.regions)
    if cohort.hardware_ids:
        vehicles = vehicles.filter(
            Exists(Ecu.objects.filter(vehicle=OuterRef("pk"), hardware_id__in=cohort.hardware_ids))
        )
    for rule in cohort.installed:
        ecus = Ecu.objects.filter(vehicle=OuterRef("pk"), hardware_id=rule["hardware_id"])
        if rule.get("versions"):
            ecus = ecus.filter(installed_bundle__version__in=rule["versions"])
        # An image the server does not know counts as release counter 0.
        if rule.get("min_counter"):
            ecus = ecus.filter(installed_bundle__release_counter__gte=rule["min_counter"])
        if rule.get("max_counter") is not None:
            ecus = ecus.filter(
                Q(installed_bundle__isnull=True)
                | Q(installed_bundle__release_counter__lte=rule["max_counter"])
            )
        vehicles = vehicles.filter(Exists(ecus))
    return vehicles


@dataclass(frozen=True)
class MarketRecall:
    market: str
    affected: int  # cars of the recall's scope with hardware it is for
    lacking: int  # of those, still without it (neither installed nor superseded)
    unreachable: int  # of those lacking, cars whose software would not obey its policy

    @property
    def updated(self) -> int:
        return self.affected - self.lacking


@dataclass(frozen=True)
class RecallProgress:
    deadline: datetime
    skip_soak: bool
    markets: tuple[MarketRecall, ...]

    def overdue(self, now: datetime) -> bool:
        return now >= self.deadline and any(m.lacking for m in self.markets)


def recall_progress(*, rollout: Rollout) -> RecallProgress | None:
    """Per market, how many cars still lack a safety recall: one grouped count over the cars
    the recall is for, from the images their last manifests reported (None when the rollout
    is no recall). Cars whose software does not announce the policy format are counted as
    lacking it and, apart, as unreachable: compatibility refuses them the offer."""
    policy = rollout.effective_install_policy
    deadline = install_policy.deadline(policy)
    if not rollout.safety_recall or deadline is None:
        return None
    bundles = [item.bundle for item in rollout.release.items.select_related("bundle")]
    vehicles = recall_vehicles(rollout=rollout, hardware_ids={b.hardware_id for b in bundles})
    lacking = Q(pk__in=[])
    for bundle in bundles:
        older = Q(installed_bundle__isnull=True) | Q(
            installed_bundle__release_counter__lte=bundle.release_counter
        )
        lacking |= Q(hardware_id=bundle.hardware_id) & ~Q(installed_sha256=bundle.sha256) & older
    too_old = Q(install_policy_version__lt=install_policy.required_version(policy))
    rows = (
        vehicles.annotate(lacks=Exists(Ecu.objects.filter(lacking, vehicle=OuterRef("pk"))))
        .order_by()
        .values("region")
        .annotate(
            affected=Count("pk"),
            lacking=Count("pk", filter=Q(lacks=True)),
            unreachable=Count("pk", filter=Q(lacks=True) & too_old),
        )
        .order_by("region")
    )
    return RecallProgress(
        deadline=deadline,
        skip_soak=install_policy.skips_soak(policy),
        markets=tuple(
            MarketRecall(r["region"], r["affected"], r["lacking"], r["unreachable"]) for r in rows
        ),
    )


def recall_vehicles(*, rollout: Rollout, hardware_ids: set[str]) -> QuerySet[Vehicle]:
    """The cars a recall is for, on every channel: the scope of `targeting.in_scope` (models,
    regions, its cohort or an offer made already) and an ECU of one of its hardware ids."""
    release = rollout.release
    vehicles = Vehicle.objects.filter(
        Exists(Ecu.objects.filter(vehicle=OuterRef("pk"), hardware_id__in=hardware_ids))
    )
    models = narrow(release.model_names, rollout.model_names)
    if models:
        vehicles = vehicles.filter(model__in=models)
    regions = narrow(release.regions, rollout.regions)
    if regions:
        vehicles = vehicles.filter(region__in=regions)
    if rollout.cohort_id:
        offered = Assignment.objects.filter(rollout=rollout, vehicle=OuterRef("pk"))
        vehicles = vehicles.filter(
            Q(pk__in=cohort_vehicles(cohort=rollout.cohort).values("pk")) | Exists(offered)
        )
    return vehicles


def delta_sources(*, bundle: Bundle, limit: int) -> list[Bundle]:
    """The older published images of `bundle`'s hardware the fleet runs most, most first:
    what its deltas should start from. One grouped count over that hardware's ECUs."""
    ranked = (
        Ecu.objects.filter(
            hardware_id=bundle.hardware_id,
            installed_bundle__status=BundleStatus.PUBLISHED,
            installed_bundle__release_counter__lt=bundle.release_counter,
        )
        .values("installed_bundle")
        .annotate(cars=Count("pk"))
        .order_by("-cars", "-installed_bundle")[:limit]
    )
    ids = [row["installed_bundle"] for row in ranked]
    found = Bundle.objects.in_bulk(ids)
    return [found[i] for i in ids]


def release_markets(release: Release) -> list[str]:
    """The markets a release targets: those it names, or every market."""
    return list(release.regions or settings.OTA_REGIONS)


def rollout_markets(rollout: Rollout) -> list[str]:
    return list(rollout.regions or release_markets(rollout.release))


def awaiting_type_approval(release: Release, markets) -> list[str]:
    """Of these markets, those that need a type approval (compliance/) the release lacks."""
    approved = set(release.approved_markets)
    return [m for m in markets if m in settings.OTA_TYPE_APPROVAL_MARKETS and m not in approved]
