"""Turn the decision for one vehicle into signed Director metadata, only when it changes."""

import hashlib
import json
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from rollouts.locks import lock_decisions_shared
from rollouts.models import Assignment, AssignmentStatus, Rollout, RolloutStatus, Vehicle
from rollouts.models.rollouts import FINISHED, OFFERING, OPEN
from rollouts.services.counters import count
from rollouts.targeting import BundleOption, Candidate, Decision, EcuState, VehicleState, decide
from signing.director import DirectorEntry, director_is_stale, director_publish_vehicle

STARTED = (AssignmentStatus.DOWNLOADING, AssignmentStatus.INSTALLING)


def vehicle_state(vehicle: Vehicle, ecus=None) -> VehicleState:
    """The decision's view of a vehicle; give `ecus` (with installed bundles) when at hand."""
    ecus = ecus if ecus is not None else vehicle.ecus.select_related("installed_bundle")
    return VehicleState(
        vin=vehicle.vin,
        model=vehicle.model,
        region=vehicle.region,
        ecus=tuple(
            EcuState(e.serial, e.hardware_id, e.installed_sha256, e.installed_release_counter)
            for e in ecus
        ),
    )


def offering_rollouts(vehicle: Vehicle):
    """Rollouts that offer to this vehicle: running or completed on its own channel, and
    completed on any later channel of the pipeline (those releases passed through its own).
    A paused or halted rollout makes no new offers but keeps those already made (a halt that
    retracts has already closed the ones not started)."""
    own = Q(channel_id=vehicle.channel_id, status__in=OFFERING)
    later = Q(channel__position__gt=vehicle.channel.position, status="completed")
    kept = Q(
        status__in=(RolloutStatus.PAUSED, RolloutStatus.HALTED),
        assignments__vehicle=vehicle,
        assignments__status__in=OPEN,
    )
    return (
        Rollout.objects.filter(own | later | kept)
        .distinct()
        .select_related("release")
        .prefetch_related("release__items__bundle")
    )


def candidates_for(vehicle: Vehicle, rollouts: list[Rollout]) -> list[Candidate]:
    statuses = dict(
        Assignment.objects.filter(vehicle=vehicle, rollout__in=rollouts).values_list(
            "rollout_id", "status"
        )
    )
    return [
        candidate(
            rollout,
            in_progress=statuses.get(rollout.pk) in STARTED,
            assigned=rollout.pk in statuses,
        )
        for rollout in rollouts
    ]


def candidate(rollout: Rollout, *, in_progress: bool = False, assigned: bool = False) -> Candidate:
    release = rollout.release
    return Candidate(
        rollout_id=rollout.pk,
        release_id=release.pk,
        newness=release.pk,
        bundles=tuple(
            BundleOption(
                path=item.bundle.path,
                hardware_id=item.bundle.hardware_id,
                release_counter=item.bundle.release_counter,
                length=item.bundle.length,
                sha256=item.bundle.sha256,
                sha512=item.bundle.sha512,
                requires=item.requires,
            )
            for item in release.items.all()
        ),
        models=_narrow(release.model_names, rollout.model_names),
        regions=_narrow(release.regions, rollout.regions),
        in_progress=in_progress,
        salt=rollout.salt,
        percent=0.0 if rollout.only_assigned else rollout.current_percent,
        assigned=assigned,
    )


def in_scope(vehicle: Vehicle, rollout: Rollout) -> bool:
    """The vehicle is among those the rollout is for (its channel, narrowed by constraints)."""
    models = _narrow(rollout.release.model_names, rollout.model_names)
    regions = _narrow(rollout.release.regions, rollout.regions)
    return (
        vehicle.channel_id == rollout.channel_id
        and (not models or vehicle.model in models)
        and (not regions or vehicle.region in regions)
    )


def _narrow(first: list[str], second: list[str]) -> frozenset[str]:
    """Both constraints hold; an empty one means "any"."""
    if first and second:
        return frozenset(first) & frozenset(second) or frozenset({"<none>"})
    return frozenset(first or second)


def director_refresh(
    *, vehicle: Vehicle, now: datetime | None = None, state: VehicleState | None = None
) -> int:
    """Decide for the vehicle and re-sign its Director metadata if the answer changed or the
    metadata is past half its life. Returns the current Director targets version.
    The caller holds the vehicle row lock."""
    now = now or timezone.now()
    lock_decisions_shared()  # no-op when the caller took it first, as it should
    rollouts = list(offering_rollouts(vehicle))
    decision = decide(state or vehicle_state(vehicle), candidates_for(vehicle, rollouts))
    chosen = next((r for r in rollouts if r.pk == decision.rollout_id), None)
    entries = _entries(vehicle, decision, chosen)
    fingerprint = _fingerprint(entries)
    if fingerprint == vehicle.director_fingerprint and not director_is_stale(
        vin=vehicle.vin, now=now
    ):
        return vehicle.director_targets_version
    version = director_publish_vehicle(vin=vehicle.vin, entries=entries, now=now)
    Vehicle.objects.filter(pk=vehicle.pk).update(
        director_fingerprint=fingerprint, director_targets_version=version
    )
    vehicle.director_fingerprint, vehicle.director_targets_version = fingerprint, version
    return version


def _entries(vehicle: Vehicle, decision: Decision, rollout: Rollout | None) -> list[DirectorEntry]:
    if decision.empty or rollout is None:
        return []
    assignment, created = Assignment.objects.get_or_create(
        rollout=rollout, vehicle=vehicle, defaults={"stage_index": rollout.stage_index}
    )
    if created:
        count(rollout_id=rollout.pk, stage_index=assignment.stage_index, offered=1)
    if assignment.status in FINISHED:
        # A vehicle that failed or was retracted is not offered the same release again here.
        return []
    by_path: dict[str, list] = {}
    for target in decision.targets:
        by_path.setdefault(target.bundle.path, []).append(target)
    return [
        DirectorEntry(
            path=path,
            length=targets[0].bundle.length,
            sha256=targets[0].bundle.sha256,
            sha512=targets[0].bundle.sha512,
            ecu_serials=tuple(t.ecu_serial for t in targets),
            hardware_id=targets[0].bundle.hardware_id,
            release_counter=targets[0].bundle.release_counter,
            correlation_id=str(assignment.pk),
        )
        for path, targets in sorted(by_path.items())
    ]


def _fingerprint(entries: list[DirectorEntry]) -> str:
    canonical = json.dumps([entry.__dict__ for entry in entries], sort_keys=True, default=list)
    return hashlib.sha256(canonical.encode()).hexdigest()
