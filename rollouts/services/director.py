"""Turn the decision for one vehicle into signed Director metadata, only when it changes."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ota import rawsql
from rollouts import install_policy, targeting
from rollouts.cohorts import rule_of
from rollouts.locks import lock_decisions_shared, lock_vehicle
from rollouts.models import (
    Assignment,
    AssignmentStatus,
    Cohort,
    CohortKind,
    CohortMember,
    Rollout,
    RolloutStatus,
    Vehicle,
)
from rollouts.models.rollouts import FINISHED, OPEN
from rollouts.selectors import DecisionReads, vehicle_decision_reads
from rollouts.services.counters import count
from rollouts.signals import AssignmentMove, announce
from rollouts.targeting import (
    BundleOption,
    Candidate,
    CohortRule,
    Decision,
    EcuState,
    VehicleState,
    decide,
    narrow,
)
from signing import storage
from signing.director import DirectorEntry, director_publish_vehicle, director_refresh_due
from signing.selectors import ready_deltas_between

# Under way, so kept over a newer release: a deferred car has the bytes and waits to install.
STARTED = (AssignmentStatus.DOWNLOADING, AssignmentStatus.DEFERRED, AssignmentStatus.INSTALLING)


def vehicle_state(vehicle: Vehicle, ecus=None) -> VehicleState:
    """The decision's view of a vehicle; give `ecus` (with installed bundles) when at hand."""
    ecus = ecus if ecus is not None else vehicle.ecus.select_related("installed_bundle")
    return VehicleState(
        vin=vehicle.vin,
        model=vehicle.model,
        region=vehicle.region,
        policy_version=vehicle.install_policy_version,
        ecus=tuple(
            EcuState(
                e.serial,
                e.hardware_id,
                e.installed_sha256,
                e.installed_release_counter,
                e.installed_bundle.version if e.installed_bundle_id else "",
            )
            for e in ecus
        ),
    )


def offering_rollouts(reads: DecisionReads) -> list[Rollout]:
    """Rollouts that offer to the vehicle: running or completed on its own channel, completed
    on any later channel of the pipeline (those releases passed through its own), and safety
    recalls running or completed on any channel (a recall is for every car). A paused or
    halted rollout makes no new offers but keeps those already made (a halt that retracts has
    already closed the ones not started)."""
    kept = (RolloutStatus.PAUSED, RolloutStatus.HALTED)
    still = {a.rollout_id for a in reads.open if a.status in OPEN}
    return reads.offering + [r for r in reads.kept if r.status in kept and r.pk in still]


def candidates_for(
    vehicle: Vehicle, rollouts: list[Rollout], statuses: dict[int, str]
) -> list[Candidate]:
    listed = static_cohorts_listing(vehicle, rollouts)
    return [
        candidate(
            rollout,
            in_progress=statuses.get(rollout.pk) in STARTED,
            assigned=rollout.pk in statuses,
            cohort_member=rollout.cohort_id in listed,
        )
        for rollout in rollouts
    ]


def static_cohorts_listing(vehicle: Vehicle, rollouts: list[Rollout]) -> set[int]:
    """The static cohorts of these rollouts that list the vehicle (no query if there are none)."""
    static = {r.cohort_id for r in rollouts if r.cohort_id and r.cohort.kind == CohortKind.STATIC}
    if not static:
        return set()
    return set(
        CohortMember.objects.filter(vehicle=vehicle, cohort_id__in=static).values_list(
            "cohort_id", flat=True
        )
    )


def cohort_rule(cohort: Cohort | None) -> CohortRule | None:
    if cohort is None:
        return None
    return rule_of(
        kind=cohort.kind,
        models=cohort.model_names,
        regions=cohort.regions,
        hardware_ids=cohort.hardware_ids,
        installed=cohort.installed,
    )


def candidate(
    rollout: Rollout,
    *,
    in_progress: bool = False,
    assigned: bool = False,
    cohort_member: bool = False,
    with_bundles: bool = True,
) -> Candidate:
    release = rollout.release
    own_markets = set(storage.replica_regions())
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
                missing_in=frozenset(own_markets - set(item.bundle.regions)),
            )
            for item in (release.items.all() if with_bundles else ())
        ),
        models=narrow(release.model_names, rollout.model_names),
        regions=narrow(release.regions, rollout.regions),
        in_progress=in_progress,
        salt=rollout.salt,
        percent=0.0 if rollout.only_assigned else rollout.current_percent,
        assigned=assigned,
        cohort=cohort_rule(rollout.cohort),
        cohort_member=cohort_member,
        policy_version=install_policy.required_version(rollout.effective_install_policy),
        recall=rollout.safety_recall,
        closed_markets=frozenset(
            set(settings.OTA_TYPE_APPROVAL_MARKETS) - set(release.approved_markets)
        ),
    )


def in_rollout_scope(
    vehicle: Vehicle,
    rollout: Rollout,
    *,
    state: VehicleState,
    assigned: bool = False,
    cohort_member: bool = False,
) -> bool:
    """The vehicle is among those the rollout is for: its channel (any, for a safety recall),
    narrowed by the release's and the rollout's constraints and cohort (a vehicle offered the
    release stays in). `cohort_member`: from `static_cohorts_listing`, read once for all the
    rollouts at hand."""
    if vehicle.channel_id != rollout.channel_id and not rollout.safety_recall:
        return False
    scope = candidate(rollout, assigned=assigned, cohort_member=cohort_member, with_bundles=False)
    return targeting.in_scope(state, scope)


@dataclass(frozen=True)
class DirectorAnswer:
    version: int  # the Director targets version the vehicle should now see
    offering: bool  # it lists an install for this vehicle
    fingerprint: str  # of what it lists
    row: dict[str, Any]  # what changed on the vehicle row (written unless store=False)


def director_refresh(
    *,
    vehicle: Vehicle,
    now: datetime | None = None,
    state: VehicleState | None = None,
    reads: DecisionReads | None = None,
    store: bool = True,
) -> DirectorAnswer:
    """Decide for the vehicle and re-sign its Director metadata if the answer changed or the
    metadata is due to be signed again (near its expiry). The caller took the shared
    decision lock first, then the vehicle row lock (rollouts/locks.py), in this transaction.
    `reads`: the vehicle's `vehicle_decision_reads`, when the caller has read them already.
    `store=False`: the caller writes `row` to the vehicle with its own update, in this
    transaction."""
    now = now or timezone.now()
    entries = director_entries(vehicle, state=state, reads=reads)
    fingerprint = entries_fingerprint(entries)
    changed = fingerprint != vehicle.director_fingerprint
    refresh_at = vehicle.director_refresh_at
    if refresh_at is None and not changed:  # a row from before the column: ask the metadata
        refresh_at = director_refresh_due(vin=vehicle.vin)
    signed = changed or refresh_at is None or now >= refresh_at
    row: dict[str, Any] = {}
    if signed:
        published = director_publish_vehicle(vin=vehicle.vin, entries=entries, now=now)
        vehicle.director_fingerprint = fingerprint
        vehicle.director_targets_version = published.targets_version
        vehicle.director_timestamp = published.timestamp
        refresh_at = director_refresh_due(vin=vehicle.vin, signed_at=now)
        # In the transaction that signs: the row's copy of timestamp.json is never behind.
        row.update(
            director_fingerprint=fingerprint,
            director_targets_version=published.targets_version,
            director_timestamp=published.timestamp,
        )
    if refresh_at != vehicle.director_refresh_at:
        row["director_refresh_at"] = vehicle.director_refresh_at = refresh_at
    if row and store:
        Vehicle.objects.filter(pk=vehicle.pk).update(**row)
    return DirectorAnswer(vehicle.director_targets_version, bool(entries), fingerprint, row)


def director_timestamp_current(*, vehicle: Vehicle, now: datetime | None = None) -> bytes | None:
    """The vehicle's timestamp.json, signed again first if it is due (near expiry). Both
    its expiry and a copy of its bytes are on the row authentication read: no query unless
    it must be signed (under the locks a manifest takes). None: no copy on the row yet."""
    now = now or timezone.now()
    if vehicle.director_refresh_at is None or now >= vehicle.director_refresh_at:
        with transaction.atomic():
            lock_decisions_shared()  # the same lock order as a manifest
            vehicle = lock_vehicle(vehicle.pk)
            director_refresh(vehicle=vehicle, now=now)
    return bytes(vehicle.director_timestamp) if vehicle.director_timestamp else None


def director_entries(
    vehicle: Vehicle,
    *,
    state: VehicleState | None = None,
    reads: DecisionReads | None = None,
    dry: bool = False,
) -> list[DirectorEntry]:
    """What the vehicle's Director targets should list now. `reads`: the vehicle's
    `vehicle_decision_reads`, when the caller has them already (their assignments as this
    transaction left them). `dry`: write nothing (a first offer is not recorded; its entries
    carry no correlation id)."""
    reads = reads or vehicle_decision_reads(vehicle=vehicle)
    rollouts = offering_rollouts(reads)
    statuses = {rollout_id: a.status for rollout_id, a in reads.assigned.items()}
    state = state or vehicle_state(vehicle)
    decision = decide(state, candidates_for(vehicle, rollouts, statuses))
    chosen = next((r for r in rollouts if r.pk == decision.rollout_id), None)
    if decision.empty or chosen is None:
        return []
    if statuses.get(chosen.pk) in FINISHED:
        # A vehicle that failed or was retracted is not offered the same release again here.
        return []
    assignment = reads.assigned.get(chosen.pk)
    if assignment is None and dry:
        assignment = Assignment(rollout=chosen, vehicle=vehicle, id="")
    elif assignment is None:
        # A first offer. The caller holds the vehicle's row lock: nobody else makes it.
        assignment = Assignment(rollout=chosen, vehicle=vehicle, stage_index=chosen.stage_index)
        rawsql.insert(assignment)
        reads.assigned[chosen.pk] = assignment
        count(rollout_id=chosen.pk, stage_index=assignment.stage_index, offered=1)
        announce(
            [AssignmentMove(vehicle.pk, chosen.pk, AssignmentStatus.OFFERED, timezone.now())],
            rollouts=[chosen],
        )
    policy = install_policy.for_vehicle(
        chosen.effective_install_policy, vehicle.effective_time_zone
    )
    return _entries(decision, assignment, policy, ready_deltas(decision, state))


def ready_deltas(decision: Decision, state: VehicleState) -> dict[str, str]:
    """ECU serial → the ready delta from the image that ECU runs to the one it is offered
    (no query when no offered ECU runs an image the server knows). In a market with storage
    of its own, only a delta with a verified copy there."""
    running = {e.serial: e.installed_sha256 for e in state.ecus if e.installed_sha256}
    wanted = {
        (t.bundle.path, running[t.ecu_serial]): t.ecu_serial
        for t in decision.targets
        if t.ecu_serial in running
    }
    if not wanted:
        return {}
    own_storage = state.region in storage.replica_regions()
    found = ready_deltas_between(
        results={path for path, _ in wanted}, sources={sha for _, sha in wanted}
    )
    return {
        wanted[(result, source)]: path
        for result, source, path, regions in found
        if (result, source) in wanted and (not own_storage or state.region in regions)
    }


def _entries(
    decision: Decision, assignment: Assignment, policy: dict, deltas: dict[str, str]
) -> list[DirectorEntry]:
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
            install_policy=policy,
            deltas={t.ecu_serial: deltas[t.ecu_serial] for t in targets if t.ecu_serial in deltas},
        )
        for path, targets in sorted(by_path.items())
    ]


def entries_fingerprint(entries: list[DirectorEntry]) -> str:
    # Without an install policy or deltas an entry reads as before they existed: no vehicle's
    # metadata is signed again for want of one.
    optional = ("install_policy", "deltas")
    shown = [
        {k: v for k, v in entry.__dict__.items() if k not in optional or v} for entry in entries
    ]
    canonical = json.dumps(shown, sort_keys=True, default=list)
    return hashlib.sha256(canonical.encode()).hexdigest()
