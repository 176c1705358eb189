"""Install events and health windows: idempotent by id, attributed, and moving assignments."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ota.errors import Unprocessable
from rollouts.locks import lock_vehicle
from rollouts.models import (
    Assignment,
    AssignmentStatus,
    EventType,
    HealthWindow,
    InstallEvent,
    Rollout,
    RolloutStatus,
    Vehicle,
)
from rollouts.models.rollouts import ASSIGNMENT_TRANSITIONS
from rollouts.services.counters import Tally, counted_at_end, leaving_deferred, slot_of
from rollouts.services.decisions import vehicles_decisions_changed
from rollouts.signals import AssignmentMove, announce
from rollouts.telemetry_bounds import event_problems, overlap_problems, window_problems
from signing.models import Delta, DeltaStatus

# What an event says about the assignment it belongs to, and which counter it enters. Success
# and failure count when the vehicle reports them, on one clock (an estimate of the failure
# rate that waited for the next manifest on one side only would lean towards failure); the
# next manifest confirms a success or turns it into a failure (services/manifests.py).
EVENT_STATUS = {
    EventType.INSTALL_SUCCEEDED: AssignmentStatus.SUCCEEDED,
    EventType.DOWNLOAD_STARTED: AssignmentStatus.DOWNLOADING,
    EventType.DOWNLOAD_COMPLETED: AssignmentStatus.DOWNLOADING,
    EventType.INSTALL_STARTED: AssignmentStatus.INSTALLING,
    EventType.INSTALL_DEFERRED: AssignmentStatus.DEFERRED,
    EventType.DOWNLOAD_FAILED: AssignmentStatus.FAILED,
    EventType.VERIFICATION_FAILED: AssignmentStatus.FAILED,
    EventType.INSTALL_FAILED: AssignmentStatus.FAILED,
    EventType.ROLLBACK_SUCCEEDED: AssignmentStatus.FAILED,
    EventType.ROLLBACK_FAILED: AssignmentStatus.FAILED,
}
EVENT_COUNTER = {
    EventType.INSTALL_SUCCEEDED: "succeeded",
    EventType.DOWNLOAD_STARTED: "downloading",
    EventType.DOWNLOAD_COMPLETED: "downloading",
    EventType.INSTALL_STARTED: "installing",
    EventType.INSTALL_DEFERRED: "deferred",
    EventType.DOWNLOAD_FAILED: "failed_download",
    EventType.VERIFICATION_FAILED: "failed_verification",
    EventType.INSTALL_FAILED: "failed_install",
    EventType.ROLLBACK_SUCCEEDED: "rolled_back",
    EventType.ROLLBACK_FAILED: "rolled_back",
}


@dataclass(frozen=True)
class Ingested:
    accepted: int
    duplicates: int


def events_ingest(*, vehicle: Vehicle, events: list[dict[str, Any]]) -> Ingested:
    """Store new events once each (a repeated id, in this batch or before, is a duplicate),
    move their assignments and count them: all of it in one transaction, or none of it, so
    the car's retry of a batch that failed is counted then. A critical signal halts its
    rollout once the batch has committed (the evaluator halts on the count if that is lost)."""
    problems = event_problems(events, now=timezone.now())
    if problems:
        raise OutOfRange.naming(problems)
    correlation_ids = _uuids(e.get("correlation_id") for e in events)
    # Counted as the transaction's last writes, in the car's slot (services/counters.py).
    with transaction.atomic(), counted_at_end(slot=slot_of(vehicle.pk)) as tally:
        # Only this vehicle's: a correlation id of another vehicle attributes nothing.
        assignments = {
            str(a.pk): a
            for a in Assignment.objects.filter(
                vehicle=vehicle, pk__in=correlation_ids
            ).select_related("rollout")
        }
        rows = [
            InstallEvent(
                id=e["id"],
                vehicle=vehicle,
                assignment=assignments.get(_normalized(e.get("correlation_id"))),
                correlation_id=e.get("correlation_id") or "",
                ecu_serial=e.get("ecu_serial") or "",
                type=e["type"],
                at=e["at"],
                error_code=e.get("error_code") or "",
                detail=e.get("detail") or "",
                delta=e.get("delta") or "",
            )
            for e in events
        ]
        stored, duplicates = _insert_new(InstallEvent, rows)
        critical = []
        _count_deltas(stored, tally)
        for event in sorted(stored, key=lambda e: e.at):
            assignment = event.assignment
            if assignment is None:
                continue
            if event.type in EVENT_STATUS:
                _advance(
                    assignment, EVENT_STATUS[event.type], EVENT_COUNTER[event.type], event, tally
                )
            if _is_critical(event, assignment.rollout.policy):
                tally.add(assignment.rollout_id, assignment.stage_index, critical=1)
                critical.append(
                    (assignment.rollout, event.error_code or event.type, assignment.stage_index)
                )
    for rollout, signal, stage_index in critical:
        _halt(rollout, signal, stage_index, vehicle.vin)
    return Ingested(len(stored), duplicates)


def _count_deltas(events: list[InstallEvent], tally: Tally) -> None:
    """Downloads made as a delta, and the bytes saved: only for a delta of a bundle of the
    event's own release (a car cannot inflate the count with another's)."""
    named = {e.delta for e in events if e.delta and e.assignment is not None}
    if not named:
        return
    deltas = {
        d.path: d
        for d in Delta.objects.filter(path__in=named, status=DeltaStatus.READY).select_related(
            "result"
        )
    }
    for event in events:
        delta = deltas.get(event.delta) if event.assignment is not None else None
        if delta is None:
            continue
        assignment = event.assignment
        if not assignment.rollout.release.items.filter(bundle_id=delta.result_id).exists():
            continue
        tally.add(
            assignment.rollout_id,
            assignment.stage_index,
            delta_downloads=1,
            delta_bytes_saved=delta.saves,
        )


def _is_critical(event: InstallEvent, policy: dict) -> bool:
    return event.type in policy.get("critical_event_types", ()) or (
        bool(event.error_code) and event.error_code in policy.get("critical_error_codes", ())
    )


def _halt(rollout: Rollout, signal: str, stage_index: int, vin: str) -> None:
    """A critical signal halts the rollout at once, without waiting for the evaluator."""
    from rollouts.services.evaluation import halt_on_critical

    with transaction.atomic():
        halt_on_critical(rollout=rollout, signal=signal, stage_index=stage_index, vin=vin)


class OutOfRange(Unprocessable):
    code = "out_of_range"
    message = (
        "Some items report what no car can; see detail.items (index, id, field). Nothing was "
        "stored: send the batch again without them."
    )

    @classmethod
    def naming(cls, problems: list) -> "OutOfRange":
        return cls(detail={"items": [p.as_detail() for p in problems]})


def health_ingest(*, vehicle: Vehicle, windows: list[dict[str, Any]]) -> Ingested:
    """Store new windows, then add their exposure to every live rollout whose scope holds
    the vehicle: as treated when it runs that rollout's release, else as control. All of it
    in one transaction, or nothing; a batch with a window no car could report (numbers out
    of reach, or overlapping another of this vehicle's windows) is refused whole (422)."""
    problems = window_problems(windows, now=timezone.now())
    if problems:
        raise OutOfRange.naming(problems)
    critical = []
    with transaction.atomic():
        lock_vehicle(vehicle.pk)  # one batch of a vehicle at a time: overlaps are decided
        earliest, latest = min(w["start"] for w in windows), max(w["end"] for w in windows)
        accepted = HealthWindow.objects.filter(
            vehicle=vehicle, start__lt=latest, end__gt=earliest
        ).values_list("id", "start", "end")
        problems = overlap_problems(windows, accepted)
        if problems:
            raise OutOfRange.naming(problems)
        installed = {ecu.serial: ecu.installed_path for ecu in vehicle.ecus.all()}
        rows = [
            HealthWindow(
                id=w["id"],
                vehicle=vehicle,
                start=w["start"],
                end=w["end"],
                driving_seconds=w["driving_seconds"],
                ignition_cycles=w["ignition_cycles"],
                crashes=w["crashes"],
                reboots=w["reboots"],
                dtcs=w.get("dtcs") or {},
                metrics=w.get("metrics") or {},
                installed=installed,
                release=_release_installed_at(vehicle, w["start"]),
            )
            for w in windows
        ]
        stored, duplicates = _insert_new(HealthWindow, rows)
        if stored:
            with counted_at_end(slot=slot_of(vehicle.pk)) as tally:
                critical = _add_exposure(vehicle, stored, tally)
    for rollout, signal, stage_index in critical:
        _halt(rollout, signal, stage_index, vehicle.vin)
    return Ingested(len(stored), duplicates)


def _add_exposure(vehicle: Vehicle, windows: list[HealthWindow], tally: Tally) -> list[tuple]:
    """Counts the windows into `tally`; the critical signals seen, to halt on after commit."""
    from rollouts.services.director import in_rollout_scope, static_cohorts_listing, vehicle_state

    live = list(
        Rollout.objects.filter(
            Q(channel_id=vehicle.channel_id) | Q(safety_recall=True),
            status__in=(RolloutStatus.RUNNING, RolloutStatus.PAUSED),
        ).select_related("release", "cohort")
    )
    if not live:
        return []
    state = vehicle_state(vehicle)
    mine = {
        rollout_id: (status, finished_at)
        for rollout_id, status, finished_at in Assignment.objects.filter(
            vehicle=vehicle, rollout__in=live
        ).values_list("rollout_id", "status", "finished_at")
    }
    listed = static_cohorts_listing(vehicle, live)
    critical = []
    for rollout in live:
        in_scope = in_rollout_scope(
            vehicle,
            rollout,
            state=state,
            assigned=rollout.pk in mine,
            cohort_member=rollout.cohort_id in listed,
        )
        if not in_scope:
            continue
        status, finished_at = mine.get(rollout.pk, ("", None))
        succeeded_at = finished_at if status == AssignmentStatus.SUCCEEDED else None
        amounts: dict[str, int] = {}
        critical_codes = set(rollout.policy.get("critical_error_codes", ()))
        seen_critical: set[str] = set()
        for window in windows:
            group = "treated" if succeeded_at and window.start >= succeeded_at else "control"
            for measure, value in (
                ("seconds", window.driving_seconds),
                ("crashes", window.crashes),
                ("reboots", window.reboots),
                ("dtcs", sum(window.dtcs.values())),
            ):
                amounts[f"{group}_{measure}"] = amounts.get(f"{group}_{measure}", 0) + value
            if group == "treated":
                seen_critical |= critical_codes & set(window.dtcs)
        if seen_critical:
            amounts["critical"] = 1
            critical.append((rollout, sorted(seen_critical)[0], rollout.stage_index))
        tally.add(rollout.pk, rollout.stage_index, **amounts)
    return critical


def _insert_new(model: type[Model], rows: list[Model]) -> tuple[list[Model], int]:
    """Insert the rows whose ids are new; count the rest as duplicates. A concurrent batch
    with the same ids makes the insert fail, and the check simply runs again."""
    for _attempt in range(3):
        unique = list({row.pk: row for row in rows}.values())
        seen = set(model.objects.filter(pk__in=[r.pk for r in unique]).values_list("pk", flat=True))
        new = [row for row in unique if row.pk not in seen]
        try:
            with transaction.atomic():
                model.objects.bulk_create(new)
        except IntegrityError:
            continue
        return new, len(rows) - len(new)
    raise IntegrityError("could not store telemetry after three attempts")


def _advance(
    assignment: Assignment, to: str, counter: str, event: InstallEvent, tally: Tally
) -> None:
    """Move the assignment if its lifecycle allows, counting the state it enters. The update
    is conditional on the state read: of two racing events, one moves it, once."""
    at = event.at
    current, deferred_at = Assignment.objects.filter(pk=assignment.pk).values_list(
        "status", "deferred_at"
    ).first() or (None, None)
    if current is None or current == to or to not in ASSIGNMENT_TRANSITIONS[current]:
        return
    fields: dict[str, Any] = {"status": to, "awaiting_manifest": to == AssignmentStatus.SUCCEEDED}
    if to in (AssignmentStatus.FAILED, AssignmentStatus.SUCCEEDED):
        fields["finished_at"] = at
    if to in (AssignmentStatus.DOWNLOADING, AssignmentStatus.INSTALLING):
        fields["started_at"] = Coalesce("started_at", Value(at))
    if to == AssignmentStatus.DEFERRED:
        # Waiting is not installing: the time-out starts again when the car may install.
        fields.update(started_at=None, deferred_at=at, deferral_reason=event.error_code)
    moved = Assignment.objects.filter(pk=assignment.pk, status=current).update(**fields)
    if moved:
        announce(
            [AssignmentMove(assignment.vehicle_id, assignment.rollout_id, to, at, event.error_code)]
        )
        vehicles_decisions_changed(vehicle_ids=[assignment.vehicle_id])
        amounts = {counter: 1, **leaving_deferred(current, deferred_at, at)}
        if current in (AssignmentStatus.TIMED_OUT, AssignmentStatus.SUCCEEDED):
            # A late answer replaces the time-out; a rollback after success, the success.
            amounts[current] = -1
        tally.add(assignment.rollout_id, assignment.stage_index, **amounts)


def _release_installed_at(vehicle: Vehicle, when: datetime):
    """The release of the newest assignment that had succeeded by `when` (None: control)."""
    latest = (
        Assignment.objects.filter(
            vehicle=vehicle, status=AssignmentStatus.SUCCEEDED, finished_at__lte=when
        )
        .order_by("-finished_at")
        .select_related("rollout")
        .first()
    )
    return latest.rollout.release if latest else None


def _uuids(values) -> list[uuid.UUID]:
    return [parsed for value in values if (parsed := _uuid(value))]


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _normalized(value) -> str:
    """A UUID in its one canonical spelling (lower case, hyphens), whatever the car sent."""
    parsed = _uuid(value)
    return str(parsed) if parsed else ""
