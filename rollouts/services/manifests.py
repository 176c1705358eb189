"""Vehicle version manifests: verify every signature, record what changed, decide, answer."""

import functools
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from ota import rawsql
from ota.cache_counters import count_one
from ota.errors import Conflict, Malformed, Unprocessable
from rollouts import reach
from rollouts.locks import lock_decisions_shared
from rollouts.models import (
    Assignment,
    AssignmentStatus,
    Channel,
    Ecu,
    InstalledChange,
    ManifestProblem,
    RolloutStatus,
    Vehicle,
)
from rollouts.models.rollouts import OPEN
from rollouts.pacing import poll_after
from rollouts.selectors import (
    EcuKey,
    vehicle_decision_reads,
    vehicle_ecus_for_poll,
    vehicle_locked,
)
from rollouts.services.counters import count, counted_at_end, leaving_deferred, slot_of
from rollouts.services.director import (
    candidate,
    director_entries,
    director_refresh,
    entries_fingerprint,
    vehicle_state,
)
from rollouts.services.revert import revert_late_install
from rollouts.services.vehicles import last_seen_due
from rollouts.signals import AssignmentMove, announce
from rollouts.targeting import release_satisfied
from signing.canonical import canonical_json
from signing.models import Bundle, BundleStatus
from signing.verify import signature_verifies

logger = logging.getLogger(__name__)


class NotCanonical(Malformed):
    code = "not_canonical"
    message = (
        "The signed part cannot be canonical JSON (OLPC): no floats, strings and integers only."
    )


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


def vehicle_manifest_receive(
    *,
    vehicle: Vehicle,
    manifest: dict[str, Any],
    raw: str | None = None,
    now: datetime | None = None,
) -> ManifestAnswer:
    """Accept a manifest (or refuse it whole, changing nothing) and decide what comes next.

    `vehicle` as authentication read it (with its channel); `raw`: the body as sent, kept as
    the latest manifest. An idle poll (images unchanged, nothing its last decision rested on
    has changed, Director metadata fresh) verifies the signatures and writes one row with one
    conditional UPDATE; everything else takes the full path, under the decision locks."""
    now = now or timezone.now()
    raw = raw if raw is not None else json.dumps(manifest, separators=(",", ":"))
    ecus = {ecu.serial: ecu for ecu in vehicle_ecus_for_poll(vehicle=vehicle)}
    checked = _check(vehicle, ecus, manifest)
    if checked.counter <= vehicle.report_counter:
        raise CounterReplayed(
            detail={"report_counter": checked.counter, "last": vehicle.report_counter}
        )
    if _looks_idle(vehicle, ecus, checked, now) and _record_idle(vehicle, checked, raw, now):
        if settings.OTA_VERIFY_IDLE_POLLS:
            verify_idle_decision(vehicle)
        return ManifestAnswer(
            _poll_after(pending=vehicle.poll_pending), vehicle.director_targets_version, []
        )
    return _receive_and_decide(vehicle.pk, manifest, raw, checked, now)


@dataclass(frozen=True)
class _Checked:
    counter: int
    problems: dict[str, str]  # serial: why its report is dropped
    images: dict[str, tuple[str, str, int]]  # serial: (path, sha256, length) of valid reports
    policy_version: int = 0  # the install policy format the car announces


def _check(vehicle: Vehicle, ecus: dict[str, EcuKey], manifest: dict[str, Any]) -> _Checked:
    """Every check that refuses the whole manifest, and each ECU report's own verdict."""
    signed, signatures = manifest["signed"], manifest["signatures"]
    if signed["vin"] != vehicle.vin:
        raise ManifestVinMismatch(detail={"vin": signed["vin"]})
    primary = ecus.get(signed["primary_ecu_serial"])
    if primary is None or not primary.primary:
        raise UnknownEcu(detail={"ecu_serial": signed["primary_ecu_serial"], "role": "primary"})
    unknown = sorted(set(signed["ecu_version_reports"]) - ecus.keys())
    if unknown:
        raise UnknownEcu(detail={"ecu_serials": unknown})
    try:
        payload = canonical_json(signed)
    except Exception:
        raise NotCanonical() from None
    if not signature_verifies(primary.keyid, primary.public_key, signatures, payload):
        logger.warning("Manifest from %s refused: bad primary signature", vehicle.vin)
        raise SignatureInvalid(detail={"ecu_serial": primary.serial, "keyid": primary.keyid})
    problems, images = {}, {}
    for serial, report in signed["ecu_version_reports"].items():
        problem = _report_problem(ecus[serial], report)
        if problem:
            problems[serial] = problem
            continue
        image = report["signed"]["installed_image"]
        images[serial] = (
            image["filepath"],
            image["fileinfo"]["hashes"].get("sha256", ""),
            image["fileinfo"]["length"],
        )
    return _Checked(
        signed["report_counter"], problems, images, signed.get("install_policy_version", 0)
    )


def _looks_idle(
    vehicle: Vehicle, ecus: dict[str, EcuKey], checked: _Checked, now: datetime
) -> bool:
    """Nothing to record and nothing to decide, as far as what authentication read shows; the
    UPDATE in `_record_idle` confirms it atomically."""
    return (
        not checked.problems
        and checked.policy_version == vehicle.install_policy_version
        and all(
            (ecus[serial].installed_path, ecus[serial].installed_sha256) == (path, sha256)
            for serial, (path, sha256, _length) in checked.images.items()
        )
        and vehicle.decided_inputs_version == vehicle.inputs_version
        and not reach.concerned(
            vehicle.channel.decision_changes,
            since=vehicle.decided_channel_version,
            now=vehicle.channel.decision_version,
            vin=vehicle.vin,
            region=vehicle.region,
        )
        and vehicle.director_refresh_at is not None
        and now < vehicle.director_refresh_at
    )


@functools.cache
def _idle_update_sql(vendor: str, with_last_seen: bool, async_commit: bool) -> str:
    q = connection.ops.quote_name  # names from the models; values are parameters
    vehicle, channel = q(Vehicle._meta.db_table), q(Channel._meta.db_table)
    last_seen = f", {q('last_seen_at')} = %s" if with_last_seen else ""
    # The statement is its own transaction: a setting local to it, made inside it, decides
    # how it commits, and costs no statement of its own (OTA_IDLE_POLL_ASYNC_COMMIT).
    commit = (
        " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
        if async_commit
        else ""
    )
    return (
        f"UPDATE {vehicle} SET {q('report_counter')} = %s, {q('last_manifest')} = %s, "  # noqa: S608
        f"{q('last_manifest_at')} = %s, {q('decided_channel_version')} = %s{last_seen}{commit} "
        f"WHERE {q('id')} = %s AND {q('report_counter')} < %s AND {q('channel_id')} = %s "
        f"AND {q('inputs_version')} = %s AND {q('decided_inputs_version')} = %s "
        f"AND {q('decided_channel_version')} = %s "
        f"AND (SELECT {q('decision_version')} FROM {channel} WHERE {q('id')} = %s) = %s"
    )


def _record_idle(vehicle: Vehicle, checked: _Checked, raw: str, now: datetime) -> bool:
    """One UPDATE of one row: the counter, the manifest, last seen. It touches no row (and the
    full path runs) if another manifest, a decision input or the channel's decision version
    changed since authentication read them: a halt that committed before it is obeyed."""
    at = connection.ops.adapt_datetimefield_value(now)
    # Changes to the channel since the car's last decision, none of which can concern it
    # (`_looks_idle`), are decided by this poll too: only if no other came since.
    channel_version = vehicle.channel.decision_version
    params: list[Any] = [checked.counter, raw, at, channel_version]
    stale = last_seen_due(vehicle, now)
    if stale:
        params.append(at)  # the indexed column only now and then
    params += [
        vehicle.pk,
        checked.counter,
        vehicle.channel_id,
        vehicle.inputs_version,
        vehicle.inputs_version,
        vehicle.decided_channel_version,
        vehicle.channel_id,
        channel_version,
    ]
    async_commit = (
        settings.OTA_IDLE_POLL_ASYNC_COMMIT
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block  # else it would decide an enclosing commit
    )
    sql = _idle_update_sql(connection.vendor, stale, async_commit)
    return rawsql.execute(sql, params) == 1


IDLE_POLL_MISMATCHES: list[str] = []


def verify_idle_decision(vehicle: Vehicle) -> None:
    """Tests: the decision an idle poll skipped, made in full, must list what the vehicle's
    Director metadata lists. A difference means some change did not bump a decision version
    (rollouts/services/decisions.py)."""
    fresh = Vehicle.objects.select_related("channel").get(pk=vehicle.pk)
    entries = director_entries(fresh, dry=True)
    if entries_fingerprint(entries) != fresh.director_fingerprint:
        problem = (
            f"An idle poll of {vehicle.vin} skipped a decision that has changed: something "
            f"changed a decision input without bumping a decision version. Now: {entries}"
        )
        IDLE_POLL_MISMATCHES.append(problem)  # the test fails even if it accepts the 500
        raise AssertionError(problem)


@transaction.atomic
def _receive_and_decide(
    vehicle_pk: int, manifest: dict[str, Any], raw: str, checked: _Checked, now: datetime
) -> ManifestAnswer:
    # Lock order, always: running rollouts (shared) first, then the vehicle. A poll waiting
    # behind a halt then holds nothing another poll needs, so they cannot deadlock.
    lock_decisions_shared()
    # One manifest per vehicle at a time: the counter check and the decision must not race.
    vehicle, ecus = vehicle_locked(pk=vehicle_pk, with_ecus=True)
    if checked.counter <= vehicle.report_counter:
        raise CounterReplayed(
            detail={"report_counter": checked.counter, "last": vehicle.report_counter}
        )
    # Counts (offers, settled installs) are the transaction's last writes, in the car's slot:
    # a stage's counter row is held from then to the commit only (services/counters.py).
    with counted_at_end(slot=slot_of(vehicle.pk)):
        return _record_and_decide(vehicle, {ecu.serial: ecu for ecu in ecus}, raw, checked, now)


def _record_and_decide(
    vehicle: Vehicle, ecus: dict[str, Ecu], raw: str, checked: _Checked, now: datetime
) -> ManifestAnswer:
    """What the manifest says the car runs, then the decision; the caller holds the locks
    and read the vehicle's ECUs with them."""
    # The channel's version is the one read with the lock, before any decision input.
    channel_version = vehicle.channel.decision_version
    for serial, problem in checked.problems.items():
        ManifestProblem.objects.create(
            vehicle=vehicle,
            ecu_serial=serial,
            code=problem,
            report_counter=checked.counter,
            detail="ECU report dropped; its installed image was not recorded.",
        )
    for serial, image in checked.images.items():
        _record_installed(vehicle, ecus[serial], image, checked.counter, now)

    # The car's software (and so the policy format it obeys) may have changed: decide with it.
    vehicle.install_policy_version = checked.policy_version
    state = vehicle_state(vehicle, ecus.values())
    reads = vehicle_decision_reads(vehicle=vehicle)
    still_open, sent_back = _settle_assignments(vehicle, state, reads.open, now)
    if sent_back:  # a late install went into a revert rollout: the decision reads it
        reads = vehicle_decision_reads(vehicle=vehicle)
    director = director_refresh(vehicle=vehicle, now=now, state=state, reads=reads, store=False)
    pending = still_open or director.offering
    fields: dict[str, Any] = {
        **director.row,
        "report_counter": checked.counter,
        "last_manifest": raw,
        "last_manifest_at": now,
        "last_seen_at": now,
        "decided_channel_version": channel_version,
        "poll_pending": pending,
        "install_policy_version": checked.policy_version,
    }
    # What this transaction itself changed (a settled assignment) is decided already.
    rawsql.update(
        Vehicle,
        {"id": vehicle.pk},
        values=fields,
        copied={"decided_inputs_version": "inputs_version"},
    )
    return ManifestAnswer(_poll_after(pending=pending), director.version, sorted(checked.problems))


def _report_problem(ecu: EcuKey, report: dict) -> str:
    signed = report["signed"]
    if signed.get("ecu_serial") != ecu.serial:
        return "report_serial_mismatch"
    if signed.get("hardware_id") != ecu.hardware_id:
        return "hardware_id_mismatch"
    try:
        payload = canonical_json(signed)
    except Exception:
        return "ecu_report_not_canonical"
    if not signature_verifies(ecu.keyid, ecu.public_key, report["signatures"], payload):
        return "ecu_signature_invalid"
    return ""


def _record_installed(
    vehicle: Vehicle, ecu: Ecu, image: tuple[str, str, int], counter: int, now: datetime
):
    path, sha256, length = image
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
    ecu.installed_length = length
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


def _settle_assignments(
    vehicle: Vehicle, state, assignments: list[Assignment], now: datetime
) -> tuple[bool, bool]:
    """An unfinished assignment whose release is now installed (or superseded) has succeeded.
    A late success replaces a time-out. A success the vehicle reported by event is confirmed
    by the image, or becomes a failure if the image is not there. Counters are written in
    (rollout, stage) order, as telemetry writes them. Answers whether an install is still
    pending, and whether a late install was sent back (a new assignment)."""
    still_open = sent_back = False
    for assignment in sorted(assignments, key=lambda a: (a.rollout_id, a.stage_index)):
        satisfied = release_satisfied(state, candidate(assignment.rollout))
        if assignment.status == AssignmentStatus.SUCCEEDED:  # awaiting this manifest
            sent_back = _confirm_or_refute(assignment, satisfied, now) or sent_back
            continue
        if not satisfied:
            still_open = still_open or assignment.status in OPEN
            continue
        moved = Assignment.objects.filter(pk=assignment.pk, status=assignment.status).update(
            status=AssignmentStatus.SUCCEEDED, finished_at=now
        )
        if moved:
            announce(
                [AssignmentMove(vehicle.pk, assignment.rollout_id, AssignmentStatus.SUCCEEDED, now)]
            )
            late = -1 if assignment.status == AssignmentStatus.TIMED_OUT else 0
            count(
                rollout_id=assignment.rollout_id,
                stage_index=assignment.stage_index,
                succeeded=1,
                timed_out=late,
                **leaving_deferred(assignment.status, assignment.deferred_at, now),
            )
            assignment.status = AssignmentStatus.SUCCEEDED
            if assignment.rollout.status != RolloutStatus.RUNNING:
                sent_back = revert_late_install(assignment=assignment) or sent_back
    return still_open, sent_back


def _confirm_or_refute(assignment: Assignment, installed: bool, now: datetime) -> bool:
    """Whether a confirmed late install was sent back."""
    awaiting = Assignment.objects.filter(
        pk=assignment.pk, status=AssignmentStatus.SUCCEEDED, awaiting_manifest=True
    )
    if installed:
        assignment.awaiting_manifest = False
        if awaiting.update(awaiting_manifest=False) and (
            assignment.rollout.status != RolloutStatus.RUNNING
        ):
            return revert_late_install(assignment=assignment)
        return False
    if awaiting.update(status=AssignmentStatus.FAILED, awaiting_manifest=False, finished_at=now):
        logger.info(
            "Assignment %s: reported installed, the manifest shows otherwise", assignment.pk
        )
        announce(
            [
                AssignmentMove(
                    assignment.vehicle_id,
                    assignment.rollout_id,
                    AssignmentStatus.FAILED,
                    now,
                    "not_in_manifest",
                )
            ]
        )
        count(
            rollout_id=assignment.rollout_id,
            stage_index=assignment.stage_index,
            succeeded=-1,
            failed_install=1,
        )
        assignment.status = AssignmentStatus.FAILED
    return False


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
    the last whole one (fleet-wide on a shared cache such as Redis, per process otherwise).
    One cache round trip: a finished minute's count is kept in the process once read."""
    minute = int((now if now is not None else time.time()) // 60)
    current = count_one(cache, f"polls:{minute}", timeout=180)
    if _last_minute[0] != minute - 1:
        _last_minute[:] = [minute - 1, cache.get(f"polls:{minute - 1}", 0)]
    return max(current, _last_minute[1])


_last_minute: list[int] = [0, 0]  # [minute, polls counted in it]
