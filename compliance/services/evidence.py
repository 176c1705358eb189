"""Evidence of every update delivered (UN R156 §7.1.1.4): a record per offer, outcome,
deferral and revert of each vehicle, written in the transaction that made it, with the
vehicle's RXSWIN before and after; the RXSWIN moves when an install changes it."""

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from compliance.models import EvidenceKind, EvidenceRecord, ImpactAssessment, VehicleRxswin
from compliance.selectors import with_rxswin
from ota import rawsql
from rollouts.models import AssignmentStatus, Rollout, Vehicle
from rollouts.signals import AssignmentMove

KINDS = {
    AssignmentStatus.OFFERED: EvidenceKind.OFFERED,
    AssignmentStatus.SUCCEEDED: EvidenceKind.INSTALLED,
    AssignmentStatus.FAILED: EvidenceKind.FAILED,
    AssignmentStatus.TIMED_OUT: EvidenceKind.TIMED_OUT,
    AssignmentStatus.DEFERRED: EvidenceKind.DEFERRED,
}


def evidence_record(*, moves: list[AssignmentMove], rollouts: Iterable[Rollout] = ()) -> int:
    """Records for these moves (those that are evidence), and the RXSWINs they change; how
    many. `rollouts`: those the caller holds already (the poll's), not read again."""
    moves = [m for m in moves if m.status in KINDS]
    if not moves:
        return 0
    held = {r.pk: r for r in rollouts}
    missing = {m.rollout_id for m in moves} - set(held)
    if missing:
        held.update(
            Rollout.objects.select_related("reverts")
            .only("release_id", "reverts__release_id")
            .in_bulk(missing)
        )
    if len(moves) == 1 and moves[0].status != AssignmentStatus.SUCCEEDED:
        # One record, no RXSWIN moving (an offer): one statement copies the car's.
        _record_unchanged(moves[0], held[moves[0].rollout_id])
        return 1
    # One read: each car's VIN, type and market with its RXSWIN now.
    vehicles = with_rxswin(Vehicle.objects.only("vin", "model", "region")).in_bulk(
        {m.vehicle_id for m in moves}
    )
    current = {pk: v.rxswin_now for pk, v in vehicles.items()}
    installed = [m for m in moves if m.status == AssignmentStatus.SUCCEEDED]
    new_rxswins = _new_rxswins(installed, held)
    records, moved = [], {}
    for move in moves:
        vehicle, rollout = vehicles[move.vehicle_id], held[move.rollout_id]
        reverts = rollout.reverts if rollout.reverts_id else None
        release_id = _evidence_release(rollout)
        before = current[vehicle.pk]
        after = before
        kind = KINDS[move.status]
        if move.status == AssignmentStatus.SUCCEEDED:
            if reverts:
                kind = EvidenceKind.REVERTED
                after = _before_install(vehicle.vin, release_id) or before
            else:
                after = new_rxswins.get((rollout.release_id, vehicle.region, vehicle.model), before)
            if after != before:
                moved[vehicle.pk] = (after, rollout.release_id, move.at)
                current[vehicle.pk] = after
        records.append(
            EvidenceRecord(
                vin=vehicle.vin,
                model=vehicle.model,
                market=vehicle.region,
                release_id=release_id,
                rollout_id=rollout.pk,
                kind=kind,
                at=move.at,
                reason=move.reason[:64],
                rxswin_before=before,
                rxswin_after=after,
            )
        )
    EvidenceRecord.objects.bulk_create(records)
    for vehicle_id, (rxswin, release_id, at) in moved.items():
        VehicleRxswin.objects.update_or_create(
            vehicle_id=vehicle_id,
            defaults={"rxswin": rxswin, "release_id": release_id, "since": at},
        )
    return len(records)


_NO_VEHICLE = -(2**31)  # stands for the vehicle id in the statement compiled once


@functools.cache
def _unchanged_sql(vendor: str) -> tuple[str, list, int]:
    """INSERT … SELECT of one record from the car's row and its RXSWIN now, the rule of
    `with_rxswin` compiled once per process (compiling it per offer cost more than the
    statement); the vehicle's id is the parameter at the index returned."""
    q = connection.ops.quote_name
    found = with_rxswin(Vehicle.objects.filter(pk=_NO_VEHICLE).order_by()).values_list(
        "vin", "model", "region", "rxswin_now"
    )
    select, params = found.query.sql_with_params()
    names = ("vin", "model", "market", "release", "rollout_id", "kind", "at", "reason")
    names += ("rxswin_before", "rxswin_after")
    columns = [EvidenceRecord._meta.get_field(name).column for name in names]
    sql = (
        f"INSERT INTO {q(EvidenceRecord._meta.db_table)} ({', '.join(map(q, columns))}) "  # noqa: S608
        f"SELECT s.{q('vin')}, s.{q('model')}, s.{q('region')}, %s, %s, %s, %s, %s, "
        f"s.{q('rxswin_now')}, s.{q('rxswin_now')} FROM ({select}) s"
    )
    return sql, list(params), 5 + list(params).index(_NO_VEHICLE)


def _evidence_release(rollout: Rollout) -> int:
    """The release a record is evidence of: for a revert rollout, the release it takes back."""
    return rollout.reverts.release_id if rollout.reverts_id else rollout.release_id


def _record_unchanged(move: AssignmentMove, rollout: Rollout) -> None:
    sql, params, at = _unchanged_sql(connection.vendor)
    release_id = _evidence_release(rollout)
    when = connection.ops.adapt_datetimefield_value(move.at)
    values = [release_id, rollout.pk, KINDS[move.status], when, move.reason[:64], *params]
    values[at] = move.vehicle_id
    rawsql.execute(sql, values)


def _new_rxswins(
    installed: list[AssignmentMove], rollouts: dict[int, Rollout]
) -> dict[tuple[int, str, str], str]:
    """(release, market, type) → the RXSWIN its assessment gave an install that affects
    type approval."""
    if not installed:
        return {}
    release_ids = {rollouts[m.rollout_id].release_id for m in installed}
    return {
        (release_id, market, model): rxswin
        for release_id, market, model, rxswin in ImpactAssessment.objects.filter(
            approval__release_id__in=release_ids, affects_type_approval=True
        ).values_list("approval__release_id", "approval__market", "model", "new_rxswin")
    }


def _before_install(vin: str, release_id: int) -> str:
    """The RXSWIN the vehicle had before it installed this release (a revert goes back)."""
    record = (
        EvidenceRecord.objects.filter(vin=vin, release_id=release_id, kind=EvidenceKind.INSTALLED)
        .order_by("-at", "-pk")
        .only("rxswin_before")
        .first()
    )
    return record.rxswin_before if record else ""


def evidence_prune(*, now: datetime | None = None) -> int:
    """Delete evidence older than OTA_EVIDENCE_RETENTION_DAYS, and nothing else ever does."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.OTA_EVIDENCE_RETENTION_DAYS)
    deleted, _ = EvidenceRecord.objects.filter(at__lt=cutoff).delete()
    return deleted
