"""Copies of bundles in each market's own storage, as a tracked step (docs/operations.md,
"Markets on S3 or Azure").

When a release is approved, each of its bundles is copied into every market it targets that
keeps bundles in storage of its own. A copy is streamed from the home storage on the long
queue (copies of gigabytes), then read back and checked against the bundle's length and
hashes; a name already there with other bytes is copied again, never trusted. Only a verified
copy puts the market in `Bundle.regions`, and only then does the Director offer the bundle to
that market's cars (`bundle_copy_verified` moves their decision).
"""

import logging
from datetime import datetime

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from django_q.tasks import async_task

from audit.services import audit_record
from signing import storage
from signing.models import COPY_LIFECYCLE, Bundle, BundleCopy, CopyStatus, Delta
from signing.services.stalled import long_task_stalled_after, resume_stalled
from signing.uploads import digest_stream

logger = logging.getLogger(__name__)

COPIER = "bundle copier"

# Sent in the transaction that records a verified copy (rollouts listens).
bundle_copy_verified = Signal()


def copies_request(*, bundle: Bundle, markets=None) -> list[BundleCopy]:
    """Copies of `bundle` into these markets (all with storage of their own when None),
    queued unless verified or under way already."""
    own = storage.replica_regions()
    wanted = own if markets is None else [m for m in own if m in set(markets)]
    requested = []
    for market in wanted:
        copy, created = BundleCopy.objects.get_or_create(
            bundle=bundle,
            delta=None,
            market=market,
            defaults={"status": CopyStatus.COPYING, "status_changed_at": timezone.now()},
        )
        if not created and not COPY_LIFECYCLE.allows("retry", copy.status):
            continue  # verified, or under way
        if not created and not _move(copy, "retry", failure=""):
            continue  # someone else asked again first
        audit_record(
            actor=None,
            actor_label=COPIER,
            action="bundle.copy_requested",
            target=bundle,
            data={"market": market},
        )
        transaction.on_commit(lambda pk=copy.pk: _enqueue(pk))
        requested.append(copy)
    return requested


def delta_copies_request(*, delta: Delta) -> list[BundleCopy]:
    """A ready delta follows its bundle into each market the bundle is copied to, so that the
    market's cars are named it (and download it there) once its own copy is verified."""
    requested = []
    markets = BundleCopy.objects.filter(bundle_id=delta.result_id, delta=None).values_list(
        "market", flat=True
    )
    for market in markets:
        copy, created = BundleCopy.objects.get_or_create(
            bundle_id=delta.result_id,
            delta=delta,
            market=market,
            defaults={"status": CopyStatus.COPYING, "status_changed_at": timezone.now()},
        )
        if created:
            audit_record(
                actor=None,
                actor_label=COPIER,
                action="delta.copy_requested",
                target=delta,
                data={"market": market},
            )
            transaction.on_commit(lambda pk=copy.pk: _enqueue(pk))
            requested.append(copy)
    return requested


def _enqueue(copy_id: int) -> None:
    async_task("signing.tasks.copy_bundle", copy_id, cluster=settings.OTA_LONG_QUEUE)


def copy_make(*, copy_id: int) -> BundleCopy:
    copy = BundleCopy.objects.select_related("bundle", "delta").get(pk=copy_id)
    if copy.status != CopyStatus.COPYING:
        return copy
    bundle = copy.item  # a bundle, or a delta to it
    home, target = storage.bundle_storage(), storage.bundle_storage(copy.market)
    try:
        with storage.reachable():
            if target.exists(bundle.blob_name) and _matches(target, bundle):
                return _verified(copy)
            if target.exists(bundle.blob_name):
                logger.warning(
                    "%s: other bytes under its name in %s; copied again", bundle, copy.market
                )
                target.delete(bundle.blob_name)
            with home.open(bundle.blob_name, "rb") as handle:
                target.save(bundle.blob_name, File(handle))
            if not _matches(target, bundle):
                return _failed(copy, "the copy does not match the bundle's length and hashes")
    except Exception as exc:
        logger.exception("Copying %s into %s failed", bundle, copy.market)
        return _failed(copy, f"{type(exc).__name__}: {exc}")
    return _verified(copy)


def _matches(target, bundle: Bundle | Delta) -> bool:
    """The copy read back: its length and both hashes are the bundle's."""
    with target.open(bundle.blob_name, "rb") as handle:
        found = digest_stream(handle)
    return found.matches(length=bundle.length, sha256=bundle.sha256, sha512=bundle.sha512)


@transaction.atomic
def _verified(copy: BundleCopy) -> BundleCopy:
    if not _move(copy, "copy", CopyStatus.VERIFIED, verified_at=timezone.now()):
        return BundleCopy.objects.get(pk=copy.pk)
    model = Delta if copy.delta_id else Bundle
    item = model.objects.select_for_update().get(pk=copy.delta_id or copy.bundle_id)
    if copy.market not in item.regions:
        item.regions = [*item.regions, copy.market]
        item.save(update_fields=["regions"])
    audit_record(
        actor=None,
        actor_label=COPIER,
        action="delta.copy_verified" if copy.delta_id else "bundle.copy_verified",
        target=item,
        data={"market": copy.market},
    )
    # The bundle's cars in the market decide again: offered it now, or named the delta.
    bundle = Bundle.objects.get(pk=copy.bundle_id)
    bundle_copy_verified.send(sender=BundleCopy, bundle=bundle, market=copy.market)
    return BundleCopy.objects.get(pk=copy.pk)


@transaction.atomic
def _failed(copy: BundleCopy, why: str) -> BundleCopy:
    if _move(copy, "copy", CopyStatus.FAILED, failure=why[:2000]):
        audit_record(
            actor=None,
            actor_label=COPIER,
            action="delta.copy_failed" if copy.delta_id else "bundle.copy_failed",
            target=copy.item,
            reason=why,
            data={"market": copy.market},
        )
    return BundleCopy.objects.get(pk=copy.pk)


def _move(copy: BundleCopy, action: str, to: str | None = None, **fields) -> bool:
    """`action` of COPY_LIFECYCLE from the state we read; False: someone else moved it first."""
    to = COPY_LIFECYCLE.target(action, copy.status, to)
    return bool(
        BundleCopy.objects.filter(pk=copy.pk, status=copy.status).update(
            status=to, status_changed_at=timezone.now(), **fields
        )
    )


def copies_resume(*, now: datetime | None = None) -> list[int]:
    """Queue again every copy `copying` for longer than the long queue lets a task run."""
    return resume_stalled(
        BundleCopy,
        status=CopyStatus.COPYING,
        after=long_task_stalled_after(),
        now=now or timezone.now(),
        enqueue=_enqueue,
    )
