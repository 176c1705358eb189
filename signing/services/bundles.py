"""Bundle lifecycle: ingest (hashed as it is stored), direct upload, verify, replicate, publish."""

import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django_q.tasks import async_task

from audit.services import audit_record
from signing import repository, storage
from signing.errors import (
    BundlePathTaken,
    BundleStateConflict,
    DirectUploadUnavailable,
    ReleaseCounterNotHigher,
)
from signing.models import BUNDLE_LIFECYCLE, Bundle, BundleStatus
from signing.services.stalled import resume_stalled
from signing.uploads import Digests, HashingReader, digest_stream

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundleSpec:
    path: str
    hardware_id: str
    version: str
    release_counter: int


def bundle_check_new(spec: BundleSpec) -> None:
    """Refuse a taken path (`deltas/` is the delta builder's), or a release counter that does
    not go up for its hardware id."""
    if spec.path.startswith("deltas/") or Bundle.objects.filter(path=spec.path).exists():
        raise BundlePathTaken(detail={"path": spec.path})
    highest = Bundle.objects.filter(hardware_id=spec.hardware_id).aggregate(
        m=Max("release_counter")
    )
    if highest["m"] is not None and spec.release_counter <= highest["m"]:
        raise ReleaseCounterNotHigher(
            detail={
                "hardware_id": spec.hardware_id,
                "release_counter": spec.release_counter,
                "highest": highest["m"],
            }
        )


@dataclass(frozen=True)
class StoredBlob:
    """Bytes in the home storage under a temporary name, with the digests of exactly them."""

    name: str
    digests: Digests


def blob_store(*, stream: BinaryIO, limit: int | None = None) -> StoredBlob:
    """Stream into the home storage under a temporary name, hashing each byte as storage reads
    it: the source is read once, so what it holds before or after does not matter, only what
    was stored. At most `limit` bytes are read."""
    reader = HashingReader(stream, limit=limit)
    blob = StoredBlob(name=f"incoming/{uuid.uuid4().hex}", digests=reader.digests)
    try:
        with storage.reachable():
            storage.bundle_storage().save(blob.name, reader)
    except BaseException:
        blob_discard(blob)  # what was written before it failed
        raise
    return blob


def blob_discard(blob: StoredBlob) -> None:
    """Delete stored bytes no bundle took (nothing once `bundle_ingest_stored` moved them)."""
    try:
        storage.bundle_storage().delete(blob.name)
    except Exception:  # a leftover under incoming/ is never served: log it, keep the first error
        logger.warning("Could not delete %s", blob.name, exc_info=True)


def bundle_ingest_stored(*, spec: BundleSpec, blob: StoredBlob, actor: Any) -> Bundle:
    """Record a verified bundle of bytes `blob_store` stored, moved to the content address of
    those very bytes, so its name and hashes are the digests of what storage holds."""
    bundle_check_new(spec)
    name = storage.blob_name(blob.digests.sha256.hexdigest())
    home = storage.bundle_storage()
    with storage.reachable():
        if home.exists(name):  # the same bytes, stored before
            home.delete(blob.name)
        elif storage.is_local(home):
            os.makedirs(os.path.dirname(home.path(name)), exist_ok=True)
            os.replace(home.path(blob.name), home.path(name))
        else:
            _copy_within(home, blob.name, name)
            home.delete(blob.name)
    return _create(
        spec,
        actor=actor,
        status=BundleStatus.VERIFIED,
        blob_name=name,
        **_digest_fields(blob.digests),
    )


def bundle_ingest_file(*, spec: BundleSpec, stream: BinaryIO, actor: Any) -> Bundle:
    """Store a stream (a local file, an upload's temporary file) as a verified bundle: read
    once, hashed as it is stored."""
    bundle_check_new(spec)  # before reading what may be gigabytes
    blob = blob_store(stream=stream)
    try:
        return bundle_ingest_stored(spec=spec, blob=blob, actor=actor)
    except BaseException:
        blob_discard(blob)
        raise


@dataclass(frozen=True)
class DirectUpload:
    bundle: Bundle
    url: str
    expires_in: int


def direct_upload_available() -> bool:
    """Bundles can go straight into storage (S3, presigned), not through a web worker."""
    return not storage.is_local(storage.bundle_storage())


def bundle_start_direct_upload(*, spec: BundleSpec, actor: Any) -> DirectUpload:
    """Reserve the bundle and hand out a presigned PUT into the home bucket."""
    home = storage.bundle_storage()
    if storage.is_local(home):
        raise DirectUploadUnavailable()
    bundle_check_new(spec)
    name = f"incoming/{uuid.uuid4().hex}"
    bundle = _create(spec, actor=actor, status=BundleStatus.AWAITING_UPLOAD, blob_name=name)
    expires = settings.OTA_S3_PRESIGN_SECONDS
    return DirectUpload(bundle, storage.presigned_put_url(home, name, expires), expires)


@transaction.atomic
def bundle_complete_direct_upload(*, bundle: Bundle, actor: Any) -> Bundle:
    """The uploader says the bytes are in place: verify them in the background."""
    bundle = _transition(bundle, "upload_completed", actor=actor)
    transaction.on_commit(lambda: async_task("signing.tasks.verify_bundle", bundle.pk))
    return bundle


def verification_stalled_after() -> timedelta:
    """A verification task is done by then or was lost: django-q2 stops a task at `timeout`
    and the ORM broker hands it out again at `retry`; the Redis broker never does, and a
    cluster stopped mid-task (ota/task_cluster.py) or a task out of attempts leaves it too."""
    return timedelta(seconds=settings.Q_CLUSTER["timeout"] + settings.Q_CLUSTER["retry"])


def bundle_verifications_resume(*, now: datetime | None = None) -> list[int]:
    """Queue again the verification of every bundle `verifying` for longer than a task can
    take."""
    return resume_stalled(
        Bundle,
        status=BundleStatus.VERIFYING,
        after=verification_stalled_after(),
        now=now or timezone.now(),
        enqueue=lambda bundle_id: async_task("signing.tasks.verify_bundle", bundle_id),
    )


def bundle_verify(*, bundle_id: int) -> Bundle:
    """Re-read an uploaded object from storage and hash it here; never trust the uploader."""
    bundle = Bundle.objects.get(pk=bundle_id)
    if bundle.status != BundleStatus.VERIFYING:
        return bundle
    home = storage.bundle_storage()
    if not home.exists(bundle.blob_name):
        return _transition(
            bundle,
            "verify",
            BundleStatus.FAILED,
            failure="Nothing was uploaded to the presigned URL.",
        )
    with home.open(bundle.blob_name, "rb") as handle:
        digests = digest_stream(handle)
    if digests.length > settings.OTA_MAX_BUNDLE_BYTES:
        home.delete(bundle.blob_name)
        return _transition(
            bundle, "verify", BundleStatus.FAILED, failure="Larger than OTA_MAX_BUNDLE_BYTES."
        )
    final = storage.blob_name(digests.sha256.hexdigest())
    if not home.exists(final):
        _copy_within(home, bundle.blob_name, final)
    home.delete(bundle.blob_name)
    bundle = _transition(
        bundle, "verify", BundleStatus.VERIFIED, blob_name=final, **_digest_fields(digests)
    )
    return bundle


def _copy_within(store, source: str, target: str) -> None:
    client = store.connection.meta.client
    client.copy(
        {"Bucket": store.bucket_name, "Key": source},
        store.bucket_name,
        target,
        Config=store.transfer_config,
    )


@transaction.atomic
def bundle_publish(*, bundle: Bundle, actor: Any) -> tuple[Bundle, int]:
    """Add a verified bundle to Image targets (then snapshot, timestamp) and mark it published."""
    bundle = _transition(
        bundle, "publish", actor=actor, published_at=timezone.now(), published_by=actor
    )
    targets_version = repository.image_add_targets(
        targets=[
            repository.target_file(
                path=bundle.path,
                length=bundle.length,
                sha256=bundle.sha256,
                sha512=bundle.sha512,
                custom={
                    "hardware_id": bundle.hardware_id,
                    "version": bundle.version,
                    "release_counter": bundle.release_counter,
                },
            )
        ]
    )
    return bundle, targets_version


def _digest_fields(digests: Digests) -> dict:
    values = digests.as_dict()
    return {"length": values["length"], "sha256": values["sha256"], "sha512": values["sha512"]}


def _create(spec: BundleSpec, *, actor: Any, status: str, **fields) -> Bundle:
    user = actor if getattr(actor, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            bundle = Bundle.objects.create(
                path=spec.path,
                hardware_id=spec.hardware_id,
                version=spec.version,
                release_counter=spec.release_counter,
                status=status,
                created_by=user,
                **fields,
            )
            audit_record(
                actor=actor,
                action="bundle.created",
                target=bundle,
                data={"status": status, "release_counter": spec.release_counter},
            )
    except IntegrityError:  # a concurrent upload took the path or the counter
        raise BundlePathTaken(detail={"path": spec.path}) from None
    return bundle


def _transition(
    bundle: Bundle, action: str, to: str | None = None, *, actor: Any = None, **fields
) -> Bundle:
    """`action` of BUNDLE_LIFECYCLE, as a conditional update from the state we read: zero rows
    means someone else won."""
    to = BUNDLE_LIFECYCLE.target(action, bundle.status, to)
    updated = Bundle.objects.filter(pk=bundle.pk, status=bundle.status).update(
        status=to, status_changed_at=timezone.now(), **fields
    )
    if updated != 1:
        raise BundleStateConflict(
            detail={"status": "changed concurrently", "action": action, "wanted": to}
        )
    audit_record(
        actor=actor,
        actor_label="" if actor else "system",
        action=f"bundle.{to}",
        target=bundle,
        reason=fields.get("failure", ""),
    )
    bundle.refresh_from_db()
    return bundle
