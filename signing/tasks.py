"""django-q2 tasks: each loads by id and calls one service."""

import logging

from signing import repository
from signing.services import bundles

logger = logging.getLogger(__name__)


def verify_bundle(bundle_id: int) -> str:
    return bundles.bundle_verify(bundle_id=bundle_id).status


def resume_stalled_verifications() -> list[int]:
    """Every few minutes: verifications queued long ago and never finished are queued again."""
    return bundles.bundle_verifications_resume()


def build_delta(delta_id: int) -> str:
    """On the long queue (settings.OTA_LONG_QUEUE): minutes for images of hundreds of MB."""
    from signing.services import deltas

    return deltas.delta_build(delta_id=delta_id).status


def resume_stalled_delta_builds() -> list[int]:
    from signing.services import deltas

    return deltas.delta_builds_resume()


def copy_bundle(copy_id: int) -> str:
    """On the long queue: copy a bundle into one market's storage and verify it there."""
    from signing.services import copies

    return copies.copy_make(copy_id=copy_id).status


def resume_stalled_copies() -> list[int]:
    from signing.services import copies

    return copies.copies_resume()


def replicate_bundle(bundle_id: int) -> int:
    """Queued by earlier versions at upload: now a request for the bundle's market copies."""
    from signing.models import Bundle
    from signing.services import copies

    return len(copies.copies_request(bundle=Bundle.objects.get(pk=bundle_id)))


def refresh_image_metadata() -> list[str]:
    """Every few minutes: re-sign what is past half its life, warn about what people sign."""
    renewed = repository.image_refresh()
    for warning in repository.expiry_warnings():
        logger.warning(warning)
    return renewed


def prune_director_metadata() -> int:
    """Daily: old per-vehicle Director versions go (see director_prune)."""
    from signing.director import director_prune

    return director_prune()
