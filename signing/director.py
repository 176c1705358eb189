"""Per-vehicle Director metadata: targets, snapshot and timestamp signed for one VIN.

The root is shared by every vehicle (scope ""); everything else is scoped to the VIN. The
rollout engine decides what a vehicle should have; this module only signs and stores it.
"""

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone
from tuf.api.metadata import Metadata, TargetFile, Targets

from ota import rawsql
from ota.errors import Conflict
from signing import repository
from signing.models import Repo
from signing.models import Role as RoleName
from signing.models import RoleMetadata as RoleMetadataModel


class DirectorRaced(Conflict):
    code = "director_raced"
    message = "The vehicle's Director metadata changed at the same time; poll again."


@dataclass(frozen=True)
class DirectorEntry:
    path: str
    length: int
    sha256: str
    sha512: str
    ecu_serials: tuple[str, ...]
    hardware_id: str
    release_counter: int
    correlation_id: str
    # Signed into `custom` when there is one, for the car to obey (rollouts/install_policy.py).
    install_policy: dict = field(default_factory=dict)
    # ECU serial: the Image target of a delta from the image it runs (docs/deltas.md).
    deltas: dict = field(default_factory=dict)


ONLINE_ROLES = [RoleName.TARGETS, RoleName.SNAPSHOT, RoleName.TIMESTAMP]


@dataclass(frozen=True)
class DirectorPublished:
    targets_version: int
    timestamp: bytes  # the new timestamp.json, exactly as served


def director_publish_vehicle(
    *, vin: str, entries: list[DirectorEntry], now: datetime | None = None
) -> DirectorPublished:
    """Sign new targets → snapshot → timestamp for one vehicle."""
    now = now or timezone.now()
    roles = [RoleName.TARGETS, RoleName.SNAPSHOT, RoleName.TIMESTAMP]
    versions = repository.latest_versions(Repo.DIRECTOR, roles, vin)
    targets = Targets(
        version=versions[RoleName.TARGETS] + 1,
        expires=repository.expiry(RoleName.TARGETS, now, vin),
        targets={entry.path: _target_file(entry) for entry in entries},
        # Empty targets still say whose they are.
        unrecognized_fields={"custom": {"vin": vin}},
    )
    signers = repository.signers_by_role(Repo.DIRECTOR, ONLINE_ROLES)
    signed_targets = repository.sign(Metadata(targets), signers[RoleName.TARGETS])
    snapshot = repository.snapshot_signed(
        targets_version=targets.version,
        version=versions[RoleName.SNAPSHOT] + 1,
        now=now,
        scope=vin,
        signers=signers[RoleName.SNAPSHOT],
    )
    snapshot_raw = snapshot.to_bytes(repository.SERIALIZER)
    timestamp = repository.timestamp_signed(
        snapshot_version=snapshot.signed.version,
        snapshot_raw=snapshot_raw,
        version=versions[RoleName.TIMESTAMP] + 1,
        now=now,
        scope=vin,
        signers=signers[RoleName.TIMESTAMP],
    )
    timestamp_raw = timestamp.to_bytes(repository.SERIALIZER)
    signed = [
        (signed_targets, signed_targets.to_bytes(repository.SERIALIZER)),
        (snapshot, snapshot_raw),  # serialized once: hashed into the timestamp, then kept
        (timestamp, timestamp_raw),
    ]
    try:
        # One statement, no savepoint: a race fails the caller's whole transaction, which
        # decides again.
        repository.store_all(Repo.DIRECTOR, signed, vin)
    except IntegrityError:  # another request signed this version first
        raise DirectorRaced(detail={"vin": vin}) from None
    return DirectorPublished(targets.version, timestamp_raw)


def director_refresh_due(*, vin: str, signed_at: datetime | None = None) -> datetime | None:
    """When the vehicle's Director metadata is signed again, changed or not: late in its
    life, `OTA_DIRECTOR_RESIGN_MARGIN_SECONDS` before it expires (never past half its life),
    so an idle car costs each role about once a day. A car is served metadata only through a
    poll, which signs it again first when due: what it gets always has that margin to live.
    Of metadata signed at `signed_at`, or of the latest stored (None if there is none).
    Callers keep it on the vehicle row, so that a poll knows without reading metadata."""
    if signed_at is not None:
        expires = repository.expiry(RoleName.TIMESTAMP, signed_at, vin)
    else:
        row = repository.latest(Repo.DIRECTOR, RoleName.TIMESTAMP, vin, with_bytes=False)
        if row is None:
            return None
        expires = row.expires
    margin = timedelta(seconds=settings.OTA_DIRECTOR_RESIGN_MARGIN_SECONDS)
    return expires - min(margin, repository.lifetime(RoleName.TIMESTAMP, vin) / 2)


def _target_file(entry: DirectorEntry) -> TargetFile:
    return TargetFile(
        length=entry.length,
        hashes={"sha256": entry.sha256, "sha512": entry.sha512},
        path=entry.path,
        unrecognized_fields={
            "custom": {
                "ecu_serial": entry.ecu_serials[0],
                "ecu_serials": list(entry.ecu_serials),
                "hardware_id": entry.hardware_id,
                "release_counter": entry.release_counter,
                "correlation_id": entry.correlation_id,
                **({"install_policy": entry.install_policy} if entry.install_policy else {}),
                **({"deltas": entry.deltas} if entry.deltas else {}),
            }
        },
    )


def director_prune(*, keep: int = 2, older_than: timedelta = timedelta(days=1), batch=5000) -> int:
    """Delete per-vehicle Director metadata versions nobody needs: those with at least `keep`
    newer versions of the same role and vehicle, once older than `older_than` (a client that
    read a timestamp may still fetch the versions it names). The shared root is never pruned:
    clients walk its chain. Returns how many rows went.

    One walk down the (repo, scope, role, version) index, newest version of each role first,
    `batch` rows a step from where the last stopped: a step costs the same however many rows
    are kept. A version signed meanwhile only adds a newer one."""
    cutoff = timezone.now() - older_than
    deleted, after, group, rank = 0, None, None, 0
    while rows := _director_rows_before(after, batch):
        doomed = []
        for pk, scope, role, _version, created_at in rows:
            rank = rank + 1 if group == (scope, role) else 1
            group = (scope, role)
            if rank > keep and rawsql.aware(created_at) < cutoff:
                doomed.append(pk)
        if doomed:
            deleted += RoleMetadataModel.objects.filter(pk__in=doomed).delete()[0]
        after = rows[-1][1:4]
    return deleted


def _director_rows_before(after: tuple | None, batch: int) -> list[tuple]:
    """The next `batch` per-vehicle rows of the walk (id, scope, role, version, created_at),
    after `after` = (scope, role, version) in descending order."""
    sql = _prune_walk_sql(connection.vendor, after is not None)
    return rawsql.fetch(sql, [Repo.DIRECTOR, "", *(after or ()), batch])


@functools.cache
def _prune_walk_sql(vendor: str, resumed: bool) -> str:
    q = connection.ops.quote_name
    scope, role, version = q("scope"), q("role"), q("version")
    where = f" AND ({scope}, {role}, {version}) < (%s, %s, %s)" if resumed else ""
    return (
        f"SELECT {q('id')}, {scope}, {role}, {version}, {q('created_at')} "  # noqa: S608
        f"FROM {q(RoleMetadataModel._meta.db_table)} WHERE {q('repo')} = %s AND {scope} <> %s"
        f"{where} ORDER BY {scope} DESC, {role} DESC, {version} DESC LIMIT %s"
    )
