"""Deltas: requested when a release is approved, built on the long task queue, signed into
the Image repository (docs/deltas.md).

A build reads both images from bundle storage into temporary files, writes the patch
(signing/deltas.py), stores it content-addressed and adds it to the Image targets with the
hashes of the image it applies to and of the image it produces. A patch that saves too little
is not kept. A build that fails is recorded with why, never retried on its own: the queue
would run it again and again.
"""

import logging
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from django_q.tasks import async_task

from audit.services import audit_record
from signing import deltas, repository, storage
from signing.models import DELTA_LIFECYCLE, Bundle, Delta, DeltaStatus
from signing.services.copies import delta_copies_request
from signing.services.stalled import long_task_stalled_after, resume_stalled
from signing.uploads import digest_stream

logger = logging.getLogger(__name__)

BUILDER = "delta builder"

# Sent in the transaction that signs a delta: the Director may now name it (rollouts listens).
delta_ready = Signal()


def delta_path(source: Bundle, result: Bundle) -> str:
    return f"deltas/{result.hardware_id}/{result.sha256[:16]}-from-{source.sha256[:16]}.patch"


def delta_request(*, source: Bundle, result: Bundle) -> Delta | None:
    """A delta from `source` to `result`, queued for building unless one exists already
    (None when the pair cannot have one: other hardware, not older, not both published)."""
    if (
        source.hardware_id != result.hardware_id
        or source.release_counter >= result.release_counter
        or not (source.sha256 and result.sha256)
    ):
        return None
    delta, created = Delta.objects.get_or_create(
        source=source,
        result=result,
        defaults={
            "path": delta_path(source, result),
            "format": deltas.FORMAT,
            "status": DeltaStatus.BUILDING,
            "status_changed_at": timezone.now(),
        },
    )
    if created:
        audit_record(
            actor=None,
            actor_label=BUILDER,
            action="delta.requested",
            target=delta,
            data={"source": source.path, "result": result.path},
        )
        transaction.on_commit(lambda: _enqueue(delta.pk))
    return delta


def _enqueue(delta_id: int) -> None:
    async_task("signing.tasks.build_delta", delta_id, cluster=settings.OTA_LONG_QUEUE)


def delta_build(*, delta_id: int) -> Delta:
    delta = Delta.objects.select_related("source", "result").get(pk=delta_id)
    if delta.status != DeltaStatus.BUILDING:
        return delta
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="delta-"))
    try:
        old, new, patch = work / "old", work / "new", work / "patch"
        _fetch(delta.source, old)
        _fetch(delta.result, new)
        with old.open("rb") as a, new.open("rb") as b, patch.open("wb") as p:
            deltas.build(a, b, p)
        seconds = time.perf_counter() - started
        with patch.open("rb") as handle:
            digests = digest_stream(handle).as_dict()
        if digests["length"] > settings.OTA_DELTA_MAX_SHARE * delta.result.length:
            return _failed(
                delta,
                f"the patch ({digests['length']:,} bytes) saves too little of the image's "
                f"{delta.result.length:,}",
            )
        name = storage.blob_name(digests["sha256"])
        home = storage.bundle_storage()
        with storage.reachable(), patch.open("rb") as handle:
            if not home.exists(name):
                home.save(name, File(handle))
    except Exception as exc:
        logger.exception("Delta %s could not be built", delta.path)
        return _failed(delta, f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _ready(delta, digests, name, seconds)


def _fetch(bundle: Bundle, into: Path) -> None:
    with (
        storage.reachable(),
        storage.bundle_storage().open(bundle.blob_name, "rb") as source,
        into.open("wb") as sink,
    ):
        shutil.copyfileobj(source, sink, 1 << 20)


@transaction.atomic
def _ready(delta: Delta, digests: dict, name: str, seconds: float) -> Delta:
    fields = {
        "length": digests["length"],
        "sha256": digests["sha256"],
        "sha512": digests["sha512"],
        "blob_name": name,
        "build_seconds": round(seconds, 3),
    }
    if not _move(delta, DeltaStatus.READY, **fields):
        return Delta.objects.get(pk=delta.pk)
    source, result = delta.source, delta.result
    repository.image_add_targets(
        targets=[
            repository.target_file(
                path=delta.path,
                length=digests["length"],
                sha256=digests["sha256"],
                sha512=digests["sha512"],
                custom={
                    "hardware_id": result.hardware_id,
                    "delta": {
                        "format": delta.format,
                        "from": {"sha256": source.sha256, "length": source.length},
                        "to": {
                            "path": result.path,
                            "sha256": result.sha256,
                            "sha512": result.sha512,
                            "length": result.length,
                        },
                    },
                },
            )
        ]
    )
    delta.refresh_from_db()
    audit_record(
        actor=None,
        actor_label=BUILDER,
        action="delta.ready",
        target=delta,
        data={"length": delta.length, "saves": delta.saves, "seconds": delta.build_seconds},
    )
    delta_ready.send(sender=Delta, delta=delta)
    delta_copies_request(delta=delta)  # into the markets its bundle went to
    return delta


@transaction.atomic
def _failed(delta: Delta, why: str) -> Delta:
    if _move(delta, DeltaStatus.FAILED, failure=why[:2000]):
        audit_record(
            actor=None, actor_label=BUILDER, action="delta.failed", target=delta, reason=why
        )
    return Delta.objects.get(pk=delta.pk)


def _move(delta: Delta, to: str, **fields) -> bool:
    """The build's end (DELTA_LIFECYCLE), from the state we read; False: it ended already."""
    DELTA_LIFECYCLE.target("build", delta.status, to)
    return bool(
        Delta.objects.filter(pk=delta.pk, status=delta.status).update(
            status=to, status_changed_at=timezone.now(), **fields
        )
    )


def delta_builds_resume(*, now: datetime | None = None) -> list[int]:
    """Queue again every build `building` for longer than a build can take."""
    return resume_stalled(
        Delta,
        status=DeltaStatus.BUILDING,
        after=long_task_stalled_after(),
        now=now or timezone.now(),
        enqueue=_enqueue,
    )
