"""Vehicle version manifests: verify every signature, record what changed, decide, answer."""

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import Signature, SSlibKey

from ota.errors import Conflict, Unprocessable
from rollouts.locks import lock_decisions_shared, lock_vehicle
from rollouts.models import (
    Assignment,
    AssignmentStatus,
    Ecu,
    InstalledChange,
    ManifestProblem,
    RolloutStatus,
    Vehicle,
    VehicleManifest,
)
from rollouts.models.rollouts import OPEN, SETTLEABLE
from rollouts.pacing import poll_after
from rollouts.services.counters import count
from rollouts.services.director import candidate, director_refresh, vehicle_state
from rollouts.services.revert import revert_late_install
from rollouts.targeting import release_satisfied
from signing.models import Bundle, BundleStatus

logger = logging.getLogger(__name__)


class CounterReplayed(Conflict):
    code = "counter_replayed"
    message = "The manifest's report counter is not higher than the last one accepted."


class SignatureInvalid(Unprocessable):
    code = "signature_invalid"
    message = "The primary ECU's signature over the manifest does not verify."


class UnknownEcu(Unprocessable):
    code = "unknown_ecu"
    message = "The manifest names an ECU that is not registered for this vehicle."


class ManifestVinMismatch(Unprocessable):
    code = "manifest_vin_mismatch"
    message = "The manifest is signed for another VIN."


@dataclass(frozen=True)
class ManifestAnswer:
    poll_after: int
    director_targets_version: int
    dropped_reports: list[str]


def signature_verifies(ecu: Ecu, signed: dict, signatures: list[dict]) -> bool:
    """TUF-style: a hex signature by the ECU's registered key over canonical JSON of `signed`."""
    try:
        payload = encode_canonical(signed).encode("utf-8")
    except Exception:
        return False
    key = SSlibKey.from_dict(ecu.keyid, dict(ecu.public_key))
    for entry in signatures:
        if entry.get("keyid") != ecu.keyid:
            continue
        try:
            key.verify_signature(Signature(ecu.keyid, str(entry.get("sig", ""))), payload)
            return True
        except (UnverifiedSignatureError, ValueError):
            return False
    return False


@transaction.atomic
def vehicle_manifest_receive(
    *, vehicle: Vehicle, manifest: dict[str, Any], now: datetime | None = None
) -> ManifestAnswer:
    """Accept a manifest (or refuse it whole, changing nothing) and decide what comes next."""
    now = now or timezone.now()
    # Lock order, always: running rollouts (shared) first, then the vehicle. A poll waiting
    # behind a halt then holds nothing another poll needs, so they cannot deadlock.
    lock_decisions_shared()
    # One manifest per vehicle at a time: the counter check and the decision must not race.
    vehicle = lock_vehicle(vehicle.pk)
    signed, signatures = manifest["signed"], manifest["signatures"]
    ecus = {ecu.serial: ecu for ecu in vehicle.ecus.select_related("installed_bundle")}

    if signed["vin"] != vehicle.vin:
        raise ManifestVinMismatch(detail={"vin": signed["vin"]})
    primary = ecus.get(signed["primary_ecu_serial"])
    if primary is None or not primary.primary:
        raise UnknownEcu(detail={"ecu_serial": signed["primary_ecu_serial"], "role": "primary"})
    unknown = sorted(set(signed["ecu_version_reports"]) - ecus.keys())
    if unknown:
        raise UnknownEcu(detail={"ecu_serials": unknown})
    if not signature_verifies(primary, signed, signatures):
        logger.warning("Manifest from %s refused: bad primary signature", vehicle.vin)
        raise SignatureInvalid(detail={"ecu_serial": primary.serial, "keyid": primary.keyid})
    counter = signed["report_counter"]
    if counter <= vehicle.report_counter:
        raise CounterReplayed(detail={"report_counter": counter, "last": vehicle.report_counter})

    dropped = []
    for serial, report in signed["ecu_version_reports"].items():
        problem = _report_problem(ecus[serial], report)
        if problem:
            dropped.append(serial)
            ManifestProblem.objects.create(
                vehicle=vehicle,
                ecu_serial=serial,
                code=problem,
                report_counter=counter,
                detail="ECU report dropped; its installed image was not recorded.",
            )
            continue
        _record_installed(vehicle, ecus[serial], report["signed"]["installed_image"], counter, now)

    Vehicle.objects.filter(pk=vehicle.pk).update(report_counter=counter)
    last = {"report_counter": counter, "body": manifest, "received_at": now}
    if not VehicleManifest.objects.filter(vehicle=vehicle).update(**last):
        VehicleManifest.objects.create(vehicle=vehicle, **last)  # the vehicle row lock is held
    state = vehicle_state(vehicle, ecus.values())
    still_open = _settle_assignments(vehicle, state, now)
    director = director_refresh(vehicle=vehicle, now=now, state=state)
    pending = still_open or director.offering
    return ManifestAnswer(_poll_after(pending=pending), director.version, dropped)


def _report_problem(ecu: Ecu, report: dict) -> str:
    signed = report["signed"]
    if signed.get("ecu_serial") != ecu.serial:
        return "report_serial_mismatch"
    if signed.get("hardware_id") != ecu.hardware_id:
        return "hardware_id_mismatch"
    if not signature_verifies(ecu, signed, report["signatures"]):
        return "ecu_signature_invalid"
    return ""


def _record_installed(vehicle: Vehicle, ecu: Ecu, image: dict, counter: int, now: datetime):
    path = image["filepath"]
    sha256 = image["fileinfo"]["hashes"].get("sha256", "")
    if path == ecu.installed_path and sha256 == ecu.installed_sha256:
        return  # unchanged: history keeps changes, not polls
    # A published bundle with this path and hash, or an image we do not know (counter 0).
    bundle = Bundle.objects.filter(path=path, sha256=sha256, status=BundleStatus.PUBLISHED).first()
    InstalledChange.objects.create(
        vehicle=vehicle,
        ecu_serial=ecu.serial,
        from_path=ecu.installed_path,
        to_path=path,
        to_sha256=sha256,
        to_bundle=bundle,
        report_counter=counter,
        at=now,
    )
    ecu.installed_path, ecu.installed_sha256 = path, sha256
    ecu.installed_length = image["fileinfo"]["length"]
    ecu.installed_bundle, ecu.installed_at = bundle, now
    ecu.save(
        update_fields=[
            "installed_path",
            "installed_sha256",
            "installed_length",
            "installed_bundle",
            "installed_at",
        ]
    )


def _settle_assignments(vehicle: Vehicle, state, now: datetime) -> bool:
    """An unfinished assignment whose release is now installed (or superseded) has succeeded.
    A late success replaces a time-out. Answers whether an install is still pending."""
    still_open = False
    unsettled = (
        Assignment.objects.filter(vehicle=vehicle, status__in=SETTLEABLE)
        .select_related("rollout__release", "rollout__cohort")
        .prefetch_related("rollout__release__items__bundle")
    )
    for assignment in unsettled:
        if not release_satisfied(state, candidate(assignment.rollout)):
            still_open = still_open or assignment.status in OPEN
        else:
            moved = Assignment.objects.filter(pk=assignment.pk, status=assignment.status).update(
                status=AssignmentStatus.SUCCEEDED, finished_at=now
            )
            if moved:
                late = -1 if assignment.status == AssignmentStatus.TIMED_OUT else 0
                count(
                    rollout_id=assignment.rollout_id,
                    stage_index=assignment.stage_index,
                    succeeded=1,
                    timed_out=late,
                )
                if assignment.rollout.status != RolloutStatus.RUNNING:
                    revert_late_install(assignment=assignment)
    return still_open


def _poll_after(*, pending: bool) -> int:
    """Seconds until the next poll: see rollouts/pacing.py."""
    return poll_after(
        base=settings.OTA_POLL_PENDING_SECONDS if pending else settings.OTA_POLL_IDLE_SECONDS,
        recent_polls=polls_per_minute(),
        capacity=settings.OTA_POLL_CAPACITY_PER_MINUTE,
        ceiling=settings.OTA_POLL_MAX_SECONDS,
        jitter=random.uniform(0.8, 1.2),  # noqa: S311 - jitter, not secrecy
    )


def polls_per_minute(*, now: float | None = None) -> int:
    """Count this poll, and answer the fleet's poll rate: the busier of this minute so far and
    the last whole one (fleet-wide on a shared cache such as Redis, per process otherwise)."""
    minute = int((now if now is not None else time.time()) // 60)
    key = f"polls:{minute}"
    try:
        current = cache.incr(key)
    except ValueError:  # the minute's first poll, unless another got there first
        current = 1 if cache.add(key, 1, timeout=180) else cache.incr(key)
    return max(current, cache.get(f"polls:{minute - 1}", 0))
