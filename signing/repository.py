"""The TUF repositories, built with python-tuf's Metadata API and stored as exact bytes.

Publishing runs targets → snapshot → timestamp in one transaction under a row lock on the
repository, so readers see either all of a change or none of it.
"""

import functools
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from audit.services import audit_record
from ota import rawsql
from ota.errors import Conflict, NotFound
from signing import keys
from signing.metadata_cache import servable_from
from signing.models import KeyBackend, Repo, Repository, RoleMetadata, SigningKey
from signing.models import Role as RoleName

logger = logging.getLogger(__name__)
SERIALIZER = JSONSerializer(compact=True)
ROLES = [RoleName.ROOT, RoleName.TARGETS, RoleName.SNAPSHOT, RoleName.TIMESTAMP]


class RepositoryNotInitialized(NotFound):
    code = "repository_not_initialized"
    message = "The TUF repository has no keys yet: run `manage.py ota_init`."


class RepositoryAlreadyInitialized(Conflict):
    code = "repository_initialized"
    message = "The repository already has a root."


def lifetime(role: str, scope: str = "") -> timedelta:
    """Per-vehicle Director roles live at most a day; the rest as configured."""
    if scope:
        return timedelta(seconds=settings.OTA_DIRECTOR_EXPIRY_SECONDS)
    return timedelta(seconds=settings.OTA_TUF_EXPIRY_SECONDS[role])


def expiry(role: str, now: datetime, scope: str = "") -> datetime:
    return (now + lifetime(role, scope)).replace(microsecond=0)


def latest(
    repo: str, role: str, scope: str = "", *, with_bytes: bool = True
) -> RoleMetadata | None:
    rows = RoleMetadata.objects.filter(repo=repo, scope=scope, role=role).order_by("-version")
    return (rows if with_bytes else rows.defer("raw")).first()


def latest_versions(repo: str, roles: list[str], scope: str = "") -> dict[str, int]:
    """The newest stored version of each of these roles (0 if none), from one statement
    written once (every offer signs a vehicle's Director metadata)."""
    found = dict(rawsql.fetch(_versions_sql(connection.vendor, len(roles)), [repo, scope, *roles]))
    return {role: found.get(role, 0) for role in roles}


@functools.cache
def _versions_sql(vendor: str, roles: int) -> str:
    q = connection.ops.quote_name
    return (
        f"SELECT {q('role')}, MAX({q('version')}) FROM {q(RoleMetadata._meta.db_table)} "  # noqa: S608
        f"WHERE {q('repo')} = %s AND {q('scope')} = %s AND {q('role')} IN ({rawsql.marks(roles)}) "
        f"GROUP BY {q('role')}"
    )


def load(row: RoleMetadata) -> Metadata:
    return Metadata.from_bytes(bytes(row.raw))


def active_keys(repo: str, role: str) -> list[SigningKey]:
    return list(SigningKey.objects.filter(repo=repo, role=role, retired_at__isnull=True))


def store(repo: str, md: Metadata, scope: str = "") -> RoleMetadata:
    """Keep a signed file; an Image version is served once every process's lease on the
    previous one has run out (signing/metadata_cache.py)."""
    row = _row(repo, md, md.to_bytes(SERIALIZER), scope)
    row.save(force_insert=True)
    return row


def store_all(repo: str, signed: list[tuple[Metadata, bytes]], scope: str = "") -> None:
    """Keep several signed files, each with its bytes (`to_bytes(SERIALIZER)`), in one
    statement: per-vehicle Director metadata."""
    RoleMetadata.objects.bulk_create([_row(repo, md, raw, scope) for md, raw in signed])


def _row(repo: str, md: Metadata, raw: bytes, scope: str) -> RoleMetadata:
    return RoleMetadata(
        repo=repo,
        scope=scope,
        role=md.signed.type,
        version=md.signed.version,
        expires=md.signed.expires,
        raw=raw,
        serve_from=servable_from() if repo == Repo.IMAGE else None,
    )


def sign(md: Metadata, signers: list[Signer]) -> Metadata:
    md.signatures.clear()
    for signer in signers:
        md.sign(signer, append=True)
    return md


def role_signers(repo: str, role: str, custody_dir: Path | None = None) -> list[Signer]:
    return signers_by_role(repo, [role], custody_dir=custody_dir)[role]


def signers_by_role(
    repo: str, roles: list[str], *, custody_dir: Path | None = None
) -> dict[str, list[Signer]]:
    """The signers of the active keys of several roles, from one statement written once
    (every offer signs a vehicle's Director metadata)."""
    rows = rawsql.fetch(_active_keys_sql(connection.vendor, len(roles)), [repo, *roles])
    found: dict[str, list[Signer]] = {role: [] for role in roles}
    for values in rows:
        row = _KEY.build(values)
        found[row.role].append(_signer(row, custody_dir))
    for role, signers in found.items():
        if not signers:
            raise RepositoryNotInitialized(detail={"repo": repo, "role": role})
    return found


_LOCAL_SIGNERS: dict[tuple[int, str], Signer] = {}


def _signer(row: SigningKey, custody_dir: Path | None) -> Signer:
    """A local key's signer is made (decrypted) once per process: a key row never changes
    but to retire, and a retired key is not read."""
    if row.backend != KeyBackend.LOCAL:
        return keys.signer_for(row, custody_dir=custody_dir)
    signer = _LOCAL_SIGNERS.get((row.pk, row.keyid))
    if signer is None:
        signer = _LOCAL_SIGNERS[(row.pk, row.keyid)] = keys.signer_for(row)
    return signer


_KEY = rawsql.Columns(SigningKey, [field.name for field in SigningKey._meta.concrete_fields], "k")


@functools.cache
def _active_keys_sql(vendor: str, roles: int) -> str:
    q = connection.ops.quote_name
    return (
        f"SELECT {_KEY.sql} FROM {_KEY.table} k "  # noqa: S608
        f"WHERE k.{q('repo')} = %s AND k.{q('role')} IN ({rawsql.marks(roles)}) "
        f"AND k.{q('retired_at')} IS NULL ORDER BY k.{q('role')}, k.{q('created_at')}"
    )


def lock(repo: str) -> Repository:
    repository = Repository.objects.select_for_update().filter(name=repo).first()
    if repository is None:
        raise RepositoryNotInitialized(detail={"repo": repo})
    return repository


# --- initialisation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InitResult:
    repo: str
    root_version: int
    root_keyids: list[str]
    custody_files: list[Path]


@transaction.atomic
def repository_initialize(
    *,
    repo: str,
    root_threshold: int = 1,
    offline_root_dir: Path | None = None,
    online_backend: str = "local",
    actor: Any = None,
    now: datetime | None = None,
) -> InitResult:
    """Create distinct keys for every role and root version 1 (and, for the Image
    repository, empty targets, snapshot and timestamp)."""
    now = now or timezone.now()
    repository, created = Repository.objects.select_for_update().get_or_create(name=repo)
    if not created and latest(repo, RoleName.ROOT) is not None:
        raise RepositoryAlreadyInitialized(detail={"repo": repo})

    root_keys = [
        keys.generate_offline_key() if offline_root_dir else keys.generate_local_key()
        for _ in range(root_threshold)
    ]
    new_keys = {RoleName.ROOT: root_keys}
    for role in (RoleName.TARGETS, RoleName.SNAPSHOT, RoleName.TIMESTAMP):
        new_keys[role] = [keys.generate_online_key(online_backend)]
    custody_files = [
        path
        for role, generated in new_keys.items()
        for new in generated
        if (path := _keep_key(repo, role, new, offline_root_dir))
    ]

    root = Root(version=1, expires=expiry(RoleName.ROOT, now), consistent_snapshot=True)
    for role, generated in new_keys.items():
        for new in generated:
            root.add_key(new.public, role)
        root.roles[role].threshold = root_threshold if role == RoleName.ROOT else 1
    root_md = sign(Metadata(root), [_signer_from_new(new) for new in root_keys])
    store(repo, root_md)

    if repo == Repo.IMAGE:
        targets = sign(
            Metadata(Targets(version=1, expires=expiry(RoleName.TARGETS, now))),
            role_signers(repo, RoleName.TARGETS),
        )
        store(repo, targets)
        publish_snapshot_and_timestamp(repo, targets_version=1, now=now)

    audit_record(
        actor=actor,
        actor_label="" if actor else "cli:ota_init",
        action="repository.initialized",
        target=repository,
        data={"root_threshold": root_threshold, "offline_root": bool(offline_root_dir)},
    )
    return InitResult(repo, 1, [k.public.keyid for k in root_keys], custody_files)


def _keep_key(repo: str, role: str, new: keys.NewKey, offline_dir: Path | None) -> Path | None:
    """Record the key; an offline key's private half goes to the custody directory only."""
    _save_key(repo, role, new)
    if new.private_pem_for_custody:
        return keys.write_custody_file(offline_dir, new.public.keyid, new.private_pem_for_custody)
    return None


def _save_key(repo: str, role: str, new: keys.NewKey) -> SigningKey:
    return SigningKey.objects.create(
        repo=repo,
        role=role,
        keyid=new.public.keyid,
        public_key=new.public.to_dict(),
        backend=new.backend,
        encrypted_private_key=new.encrypted_private_key,
        kms_key_id=new.kms_key_id,
    )


def _signer_from_new(new: keys.NewKey) -> Signer:
    pem = new.encrypted_private_key or new.private_pem_for_custody
    return CryptoSigner(keys.load_private_key(pem), new.public)


# --- publishing -------------------------------------------------------------------------------


def target_file(
    *, path: str, length: int, sha256: str, sha512: str, custom: dict[str, Any]
) -> TargetFile:
    return TargetFile(
        length=length,
        hashes={"sha256": sha256, "sha512": sha512},
        path=path,
        unrecognized_fields={"custom": custom},
    )


@transaction.atomic
def image_add_targets(*, targets: list[TargetFile], now: datetime | None = None) -> int:
    """Add targets to the Image repository; returns the new targets version."""
    now = now or timezone.now()
    lock(Repo.IMAGE)
    current = latest(Repo.IMAGE, RoleName.TARGETS)
    if current is None:
        raise RepositoryNotInitialized(detail={"repo": Repo.IMAGE})
    md = load(current)
    for target in targets:
        md.signed.targets[target.path] = target
    md.signed.version += 1
    md.signed.expires = expiry(RoleName.TARGETS, now)
    store(Repo.IMAGE, sign(md, role_signers(Repo.IMAGE, RoleName.TARGETS)))
    publish_snapshot_and_timestamp(Repo.IMAGE, targets_version=md.signed.version, now=now)
    return md.signed.version


def publish_snapshot_and_timestamp(
    repo: str,
    *,
    targets_version: int,
    now: datetime,
    scope: str = "",
    signers: dict[str, list[Signer]] | None = None,
    versions: dict[str, int] | None = None,
) -> RoleMetadata:
    """Returns the new timestamp. `signers` by role, and `versions` (the newest stored of
    snapshot and timestamp, `latest_versions`), when the caller has them already."""
    signers = signers or signers_by_role(repo, [RoleName.SNAPSHOT, RoleName.TIMESTAMP])
    versions = versions or latest_versions(repo, [RoleName.SNAPSHOT, RoleName.TIMESTAMP], scope)
    snapshot = snapshot_signed(
        targets_version=targets_version,
        version=versions[RoleName.SNAPSHOT] + 1,
        now=now,
        scope=scope,
        signers=signers[RoleName.SNAPSHOT],
    )
    snapshot_row = store(repo, snapshot, scope)
    return _publish_timestamp(
        repo,
        snapshot_row=snapshot_row,
        now=now,
        scope=scope,
        signers=signers[RoleName.TIMESTAMP],
        previous_version=versions[RoleName.TIMESTAMP],
    )


def snapshot_signed(
    *, targets_version: int, version: int, now: datetime, scope: str, signers: list[Signer]
) -> Metadata:
    snapshot = Snapshot(
        version=version,
        expires=expiry(RoleName.SNAPSHOT, now, scope),
        meta={"targets.json": MetaFile(version=targets_version)},
    )
    return sign(Metadata(snapshot), signers)


def timestamp_signed(
    *,
    snapshot_version: int,
    snapshot_raw: bytes,
    version: int,
    now: datetime,
    scope: str,
    signers: list[Signer],
) -> Metadata:
    timestamp = Timestamp(
        version=version,
        expires=expiry(RoleName.TIMESTAMP, now, scope),
        snapshot_meta=MetaFile(
            version=snapshot_version,
            length=len(snapshot_raw),
            hashes={"sha256": hashlib.sha256(snapshot_raw).hexdigest()},
        ),
    )
    return sign(Metadata(timestamp), signers)


def _publish_timestamp(
    repo: str,
    *,
    snapshot_row: RoleMetadata,
    now: datetime,
    scope: str = "",
    signers: list[Signer] | None = None,
    previous_version: int | None = None,
) -> RoleMetadata:
    if previous_version is None:
        previous_version = latest_versions(repo, [RoleName.TIMESTAMP], scope)[RoleName.TIMESTAMP]
    timestamp = timestamp_signed(
        snapshot_version=snapshot_row.version,
        snapshot_raw=bytes(snapshot_row.raw),
        version=previous_version + 1,
        now=now,
        scope=scope,
        signers=signers or role_signers(repo, RoleName.TIMESTAMP),
    )
    return store(repo, timestamp, scope)


@transaction.atomic
def image_refresh(*, now: datetime | None = None) -> list[str]:
    """Re-sign snapshot and timestamp once less than half their lifetime is left."""
    now = now or timezone.now()
    if not Repository.objects.filter(name=Repo.IMAGE).exists():
        return []
    lock(Repo.IMAGE)
    renewed = []
    snapshot = latest(Repo.IMAGE, RoleName.SNAPSHOT)
    timestamp = latest(Repo.IMAGE, RoleName.TIMESTAMP)
    if snapshot is None or timestamp is None:
        return []
    if past_half_life(snapshot, now):
        targets_version = load(snapshot).signed.meta["targets.json"].version
        publish_snapshot_and_timestamp(Repo.IMAGE, targets_version=targets_version, now=now)
        renewed = ["snapshot", "timestamp"]
    elif past_half_life(timestamp, now):
        _publish_timestamp(Repo.IMAGE, snapshot_row=snapshot, now=now)
        renewed = ["timestamp"]
    if renewed:
        logger.info("Re-signed image %s", " and ".join(renewed))
    return renewed


def past_half_life(row: RoleMetadata, now: datetime) -> bool:
    return row.expires - now < lifetime(row.role, row.scope) / 2


def expiry_warnings(*, now: datetime | None = None) -> list[str]:
    """Roles signed by people (root, Image targets) that expire soon, as sentences."""
    now = now or timezone.now()
    horizon = now + timedelta(seconds=settings.OTA_TUF_EXPIRY_WARNING_SECONDS)
    warnings = []
    for repo, role in [(Repo.IMAGE, "root"), (Repo.IMAGE, "targets"), (Repo.DIRECTOR, "root")]:
        row = latest(repo, role)
        if row is not None and row.expires < horizon:
            state = "expired" if row.expires <= now else "expires"
            warnings.append(
                f"The {repo} repository's {role} metadata (version {row.version}) {state} "
                f"on {row.expires:%Y-%m-%d %H:%M} UTC."
            )
    return warnings


# --- root and key rotation --------------------------------------------------------------------


@dataclass(frozen=True)
class RootResult:
    repo: str
    version: int
    rotated_roles: list[str]
    custody_files: list[Path]


@transaction.atomic
def root_sign_next(
    *,
    repo: str,
    rotate_roles: set[str] = frozenset(),
    root_threshold: int | None = None,
    custody_dir: Path | None = None,
    offline_root_dir: Path | None = None,
    actor: Any = None,
    now: datetime | None = None,
) -> RootResult:
    """Root N+1 with fresh keys for `rotate_roles`, signed by a threshold of the old root
    keys and by the new ones, so that clients holding root N accept it. Roles whose key
    changed are re-signed with the new key."""
    now = now or timezone.now()
    repository = lock(repo)
    current = latest(repo, RoleName.ROOT)
    md = load(current)
    root: Root = md.signed
    old_root_signers = _threshold_signers(repo, root, custody_dir)

    custody_files: list[Path] = []
    new_root_signers: list[Signer] = []
    for role in sorted(rotate_roles):
        old_rows = active_keys(repo, role)
        count = (root_threshold or root.roles[role].threshold) if role == RoleName.ROOT else 1
        for row in old_rows:
            root.revoke_key(row.keyid, role)
            row.retired_at = now
            row.save(update_fields=["retired_at"])
        for _ in range(count):
            new = _new_key_like(old_rows[0] if old_rows else None, role, offline_root_dir)
            if path := _keep_key(repo, role, new, offline_root_dir):
                custody_files.append(path)
            root.add_key(new.public, role)
            if role == RoleName.ROOT:
                new_root_signers.append(_signer_from_new(new))
    if root_threshold is not None:
        root.roles[RoleName.ROOT].threshold = root_threshold

    root.version += 1
    root.expires = expiry(RoleName.ROOT, now)
    if RoleName.ROOT not in rotate_roles:
        new_root_signers = old_root_signers
    sign(md, _unique(old_root_signers + new_root_signers))
    store(repo, md)

    if repo == Repo.IMAGE and rotate_roles - {RoleName.ROOT}:
        _resign_after_rotation(rotate_roles, now)
    audit_record(
        actor=actor,
        actor_label="" if actor else "cli:sign_root",
        action="repository.root_signed",
        target=repository,
        data={"version": root.version, "rotated_roles": sorted(rotate_roles)},
    )
    return RootResult(repo, root.version, sorted(rotate_roles), custody_files)


def _threshold_signers(repo: str, root: Root, custody_dir: Path | None) -> list[Signer]:
    """As many current root keys as the threshold needs, preferring online ones."""
    rows = [r for r in active_keys(repo, RoleName.ROOT) if r.keyid in root.roles["root"].keyids]
    signers, missing = [], []
    for row in sorted(rows, key=lambda r: r.backend == KeyBackend.OFFLINE):
        try:
            signers.append(keys.signer_for(row, custody_dir=custody_dir))
        except keys.KeyUnavailable as exc:
            missing.append(str(exc))
        if len(signers) == root.roles["root"].threshold:
            return signers
    raise keys.KeyUnavailable(
        f"root needs {root.roles['root'].threshold} signatures, "
        f"only {len(signers)} key(s) could sign: " + "; ".join(missing)
    )


def _new_key_like(old: SigningKey | None, role: str, offline_root_dir: Path | None):
    if role == RoleName.ROOT:
        return keys.generate_offline_key() if offline_root_dir else keys.generate_local_key()
    backend = old.backend if old else settings.OTA_ONLINE_KEY_BACKEND
    return keys.generate_online_key(backend)


def _unique(signers: list[Signer]) -> list[Signer]:
    seen, unique = set(), []
    for signer in signers:
        if signer.public_key.keyid not in seen:
            seen.add(signer.public_key.keyid)
            unique.append(signer)
    return unique


def _resign_after_rotation(rotated: set[str], now: datetime) -> None:
    targets = load(latest(Repo.IMAGE, RoleName.TARGETS))
    targets_version = targets.signed.version
    if RoleName.TARGETS in rotated:
        targets.signed.version += 1
        targets.signed.expires = expiry(RoleName.TARGETS, now)
        store(Repo.IMAGE, sign(targets, role_signers(Repo.IMAGE, RoleName.TARGETS)))
        targets_version = targets.signed.version
    publish_snapshot_and_timestamp(Repo.IMAGE, targets_version=targets_version, now=now)
