"""Releases: created by one person, approved by another, immutable once approved."""

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from ota.errors import Conflict, Forbidden, Malformed, Unprocessable
from rollouts import install_policy
from rollouts.errors import ReleaseStateConflict
from rollouts.models import Release, ReleaseBundle
from rollouts.models.releases import RELEASE_LIFECYCLE
from rollouts.selectors import delta_sources
from signing.models import Bundle, BundleStatus, Delta
from signing.services.copies import copies_request
from signing.services.deltas import delta_request


class ReleaseExists(Conflict):
    code = "release_exists"
    message = "A release with this version exists already."


class BundleNotPublished(Unprocessable):
    code = "bundle_not_published"
    message = "A release may only name bundles published in the Image repository."


class TwoBundlesForOneHardware(Malformed):
    code = "duplicate_hardware_id"
    message = "A release holds at most one bundle per hardware id."


class InvalidInstallPolicy(Malformed):
    code = "invalid_install_policy"
    message = "The install policy is not valid; see detail for each field."


def checked_install_policy(policy: dict | None) -> dict:
    """The policy in its normal form, or InvalidInstallPolicy naming what is wrong."""
    try:
        return install_policy.validate(policy, now=timezone.now())
    except install_policy.PolicyError as exc:
        raise InvalidInstallPolicy(detail=exc.problems) from None


class OwnApproval(Forbidden):
    code = "own_approval"
    message = "Approval must come from someone other than the author (four eyes)."


@dataclass(frozen=True)
class ReleaseSpec:
    version: str
    notes: str
    bundle_ids: list[int]
    requires: dict[int, dict[str, int]] = field(default_factory=dict)  # by bundle id
    models: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    install_policy: dict = field(default_factory=dict)


@transaction.atomic
def release_create(*, spec: ReleaseSpec, actor: User) -> Release:
    policy = checked_install_policy(spec.install_policy)
    bundles = list(Bundle.objects.filter(pk__in=spec.bundle_ids))
    missing = sorted(set(spec.bundle_ids) - {b.pk for b in bundles})
    unpublished = sorted(b.pk for b in bundles if b.status != BundleStatus.PUBLISHED)
    if missing or unpublished:
        raise BundleNotPublished(detail={"missing": missing, "unpublished": unpublished})
    hardware = [b.hardware_id for b in bundles]
    repeated = sorted({h for h in hardware if hardware.count(h) > 1})
    if repeated:
        raise TwoBundlesForOneHardware(detail={"hardware_ids": repeated})
    try:
        with transaction.atomic():
            release = Release.objects.create(
                version=spec.version,
                notes=spec.notes,
                model_names=spec.models,
                regions=spec.regions,
                install_policy=policy,
                created_by=actor,
            )
    except IntegrityError:
        raise ReleaseExists(detail={"version": spec.version}) from None
    ReleaseBundle.objects.bulk_create(
        ReleaseBundle(
            release=release,
            bundle=b,
            hardware_id=b.hardware_id,
            requires=spec.requires.get(b.pk, {}),
        )
        for b in bundles
    )
    audit_record(
        actor=actor,
        action="release.created",
        target=release,
        data={"bundles": [b.path for b in bundles]},
    )
    return release


def four_eyes(record, actor: User | None) -> None:
    """A release or a rollout is approved by someone other than its author."""
    if actor is None or record.created_by_id == actor.pk:
        raise OwnApproval(detail={"author": record.created_by.get_username()})


# The checks each action of RELEASE_LIFECYCLE names, by name.
RELEASE_CHECKS = {"four_eyes": four_eyes}


@transaction.atomic
def release_approve(*, release: Release, actor: User) -> Release:
    to = RELEASE_LIFECYCLE.target("approve", release.status)
    for name in RELEASE_LIFECYCLE.checks("approve"):
        RELEASE_CHECKS[name](release, actor)
    updated = Release.objects.filter(pk=release.pk, status=release.status).update(
        status=to, approved_by=actor, approved_at=timezone.now()
    )
    if updated != 1:
        raise ReleaseStateConflict(
            detail={"status": "changed concurrently", "action": "approve", "wanted": to}
        )
    audit_record(actor=actor, action="release.approved", target=release)
    release.refresh_from_db()
    release_request_copies(release=release)
    release_request_deltas(release=release)
    return release


def release_request_copies(*, release: Release) -> None:
    """Each bundle into the storage of every market the release targets that has its own
    (all of them when it names none); its cars are offered it once their copy is verified."""
    for item in release.items.select_related("bundle"):
        copies_request(bundle=item.bundle, markets=release.regions or None)


def release_request_deltas(*, release: Release) -> list[Delta]:
    """For each bundle, deltas from the images the fleet runs most on its hardware
    (settings.OTA_DELTA_SOURCES), built on the long queue after this commits."""
    requested = []
    for item in release.items.select_related("bundle"):
        for source in delta_sources(bundle=item.bundle, limit=settings.OTA_DELTA_SOURCES):
            delta = delta_request(source=source, result=item.bundle)
            if delta is not None:
                requested.append(delta)
    return requested
