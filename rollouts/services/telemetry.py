"""Install events and health windows: idempotent by id, attributed, and moving assignments."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model

from rollouts.models import (
    Assignment,
    AssignmentStatus,
    EventType,
    HealthWindow,
    InstallEvent,
    Vehicle,
)
from rollouts.models.rollouts import ASSIGNMENT_TRANSITIONS

# What an event says about the assignment it belongs to. Success is settled by the manifest
# (the ECU reports the new image), not by an event alone.
EVENT_STATUS = {
    EventType.DOWNLOAD_STARTED: AssignmentStatus.DOWNLOADING,
    EventType.DOWNLOAD_COMPLETED: AssignmentStatus.DOWNLOADING,
    EventType.INSTALL_STARTED: AssignmentStatus.INSTALLING,
    EventType.DOWNLOAD_FAILED: AssignmentStatus.FAILED,
    EventType.VERIFICATION_FAILED: AssignmentStatus.FAILED,
    EventType.INSTALL_FAILED: AssignmentStatus.FAILED,
    EventType.ROLLBACK_SUCCEEDED: AssignmentStatus.FAILED,
    EventType.ROLLBACK_FAILED: AssignmentStatus.FAILED,
}


@dataclass(frozen=True)
class Ingested:
    accepted: int
    duplicates: int


def events_ingest(*, vehicle: Vehicle, events: list[dict[str, Any]]) -> Ingested:
    """Store new events once each; a repeated id (in this batch or before) is a duplicate."""
    correlation_ids = {e["correlation_id"] for e in events if e.get("correlation_id")}
    # Only this vehicle's assignments: a correlation id of another vehicle attributes nothing.
    assignments = {
        str(a.pk): a
        for a in Assignment.objects.filter(vehicle=vehicle, pk__in=_uuids(correlation_ids))
    }

    def assignment_of(event: dict) -> Assignment | None:
        parsed = _uuids([event.get("correlation_id") or ""])
        return assignments.get(str(parsed[0])) if parsed else None

    rows = [
        InstallEvent(
            id=e["id"],
            vehicle=vehicle,
            assignment=assignments.get(e.get("correlation_id") or ""),
            correlation_id=e.get("correlation_id") or "",
            ecu_serial=e.get("ecu_serial") or "",
            type=e["type"],
            at=e["at"],
            error_code=e.get("error_code") or "",
            detail=e.get("detail") or "",
        )
        for e in events
    ]
    stored, duplicates = _insert_new(InstallEvent, rows)
    for event in sorted(stored, key=lambda e: e.at):
        if event.assignment is not None and event.type in EVENT_STATUS:
            _advance(event.assignment, EVENT_STATUS[event.type], event.at)
    return Ingested(len(stored), duplicates)


def health_ingest(*, vehicle: Vehicle, windows: list[dict[str, Any]]) -> Ingested:
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
    return Ingested(len(stored), duplicates)


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


def _advance(assignment: Assignment, to: str, at: datetime) -> None:
    current = Assignment.objects.filter(pk=assignment.pk).values_list("status", flat=True).first()
    if current is None or current == to or to not in ASSIGNMENT_TRANSITIONS[current]:
        return
    finished = at if to == AssignmentStatus.FAILED else None
    Assignment.objects.filter(pk=assignment.pk, status=current).update(
        status=to, finished_at=finished
    )


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
    parsed = []
    for value in values:
        try:
            parsed.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return parsed
