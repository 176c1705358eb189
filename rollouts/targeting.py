"""What each ECU of a vehicle should have now. Pure: no ORM, no clock.

This module is the one place where that decision is made. Its rules (product brief §6):
- a vehicle is offered a bundle only for a hardware id it has;
- only if the bundle's release counter is higher than what that ECU has installed
  (an image the server does not know counts as 0): never a downgrade. A part whose ECU
  already runs a higher counter is superseded, so satisfied: the rest of the release still
  applies. The same counter with other bytes is a conflict: the release does not apply;
- only if the vehicle is in the rollout's scope: the release's and the rollout's model and
  region constraints, and the rollout's cohort (a static list or a filter on model, region,
  hardware id and installed version). A vehicle already offered the release stays in the
  cohort even if it no longer matches (installing the release may well change its installed
  version); model and region constraints are about compatibility and always hold;
- only if each bundle's `requires`
  (other components at a minimum release counter, installed or coming in the same release);
- a release with an install policy only to a vehicle that obeys that policy's format (its
  manifest says so): an older car would install whenever offered;
- a release only in the markets whose type approval it has, where one is required;
- a release's bundles are offered together or not at all, so only once every one of them is
  in the vehicle's market (a market with storage of its own needs a verified copy there);
- one release at a time: an install already under way is kept, otherwise a safety recall,
  otherwise the newest release whose rollout offers to this vehicle wins. A recall is offered
  on every channel (the caller's concern): only these compatibility rules refuse it a car;
- staged rollouts: a vehicle is in once `bucket(salt, VIN) < percent * 100`. The bucket never
  changes, so raising the percentage only adds vehicles, and one already offered stays in.
"""

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EcuState:
    serial: str
    hardware_id: str
    installed_sha256: str = ""
    installed_counter: int = 0  # 0 for an image the server does not know
    installed_version: str = ""  # "" for an image the server does not know


@dataclass(frozen=True)
class VehicleState:
    vin: str
    model: str
    region: str
    ecus: tuple[EcuState, ...]
    policy_version: int = 0  # the install policy format the car obeys (0: none)


@dataclass(frozen=True)
class BundleOption:
    path: str
    hardware_id: str
    release_counter: int
    length: int
    sha256: str
    sha512: str
    requires: Mapping[str, int] = field(default_factory=dict)
    # Markets with storage of their own that hold no verified copy yet: not offered there.
    missing_in: frozenset[str] = frozenset()


@dataclass(frozen=True)
class InstalledRule:
    """An ECU of this hardware id runs one of these versions and/or a counter in range."""

    hardware_id: str
    versions: frozenset[str] = frozenset()  # empty: any version
    min_counter: int | None = None
    max_counter: int | None = None


@dataclass(frozen=True)
class CohortRule:
    """A cohort: a static list (membership is looked up, see `Candidate.cohort_member`) or a
    filter whose every given part must hold; an empty part means "any"."""

    static: bool = False
    models: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    hardware_ids: frozenset[str] = frozenset()  # the vehicle has an ECU of one of these
    installed: tuple[InstalledRule, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A release offered to this vehicle by a rollout on its channel."""

    rollout_id: int
    release_id: int
    newness: int  # larger is newer
    bundles: tuple[BundleOption, ...]
    models: frozenset[str] = frozenset()  # empty: any model
    regions: frozenset[str] = frozenset()  # empty: any region
    in_progress: bool = False  # this vehicle has started installing it
    salt: str = ""
    percent: float = 100.0  # the current stage's cumulative share of the scope
    assigned: bool = False  # already offered to this vehicle: it stays in
    cohort: CohortRule | None = None  # None: the whole channel
    cohort_member: bool = False  # a static cohort lists this vehicle
    policy_version: int = 0  # the install policy format a car must obey (0: no policy)
    recall: bool = False  # a safety recall: before any other release not yet started
    # Markets whose type approval of the release is still missing: no car there is in scope.
    closed_markets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EcuTarget:
    ecu_serial: str
    bundle: BundleOption


@dataclass(frozen=True)
class Decision:
    rollout_id: int | None = None
    release_id: int | None = None
    targets: tuple[EcuTarget, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.targets


NOTHING = Decision()


def decide(vehicle: VehicleState, candidates: Iterable[Candidate]) -> Decision:
    ordered = sorted(candidates, key=lambda c: (not c.in_progress, not c.recall, -c.newness))
    for candidate in ordered:
        targets = release_targets(vehicle, candidate)
        if targets:
            return Decision(candidate.rollout_id, candidate.release_id, targets)
    return NOTHING


BUCKETS = 10_000


def bucket(salt: str, vin: str) -> int:
    """A stable keyed hash of the VIN into 0..9999 (never Python's per-process `hash`)."""
    digest = hmac.new(salt.encode(), vin.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_stage(vin: str, candidate: Candidate) -> bool:
    return candidate.assigned or bucket(candidate.salt, vin) < candidate.percent * BUCKETS / 100


def in_cohort(vehicle: VehicleState, rule: CohortRule | None, *, member: bool = False) -> bool:
    if rule is None:
        return True
    if rule.static:
        return member
    return (
        (not rule.models or vehicle.model in rule.models)
        and (not rule.regions or vehicle.region in rule.regions)
        and (not rule.hardware_ids or any(e.hardware_id in rule.hardware_ids for e in vehicle.ecus))
        and all(_runs(vehicle, installed) for installed in rule.installed)
    )


def _runs(vehicle: VehicleState, rule: InstalledRule) -> bool:
    return any(
        ecu.hardware_id == rule.hardware_id
        and (not rule.versions or ecu.installed_version in rule.versions)
        and (rule.min_counter is None or ecu.installed_counter >= rule.min_counter)
        and (rule.max_counter is None or ecu.installed_counter <= rule.max_counter)
        for ecu in vehicle.ecus
    )


def narrow(first: Iterable[str], second: Iterable[str]) -> frozenset[str]:
    """Both constraints hold (a release's and its rollout's); an empty one means "any"."""
    first, second = frozenset(first), frozenset(second)
    if first and second:
        return first & second or frozenset({"<none>"})
    return first or second


def in_scope(vehicle: VehicleState, candidate: Candidate) -> bool:
    """The vehicle is among those the rollout is for (its channel is the caller's concern)."""
    return (
        (not candidate.models or vehicle.model in candidate.models)
        and (not candidate.regions or vehicle.region in candidate.regions)
        and vehicle.region not in candidate.closed_markets
        and vehicle.policy_version >= candidate.policy_version
        and (
            candidate.assigned
            or in_cohort(vehicle, candidate.cohort, member=candidate.cohort_member)
        )
    )


def release_targets(vehicle: VehicleState, candidate: Candidate) -> tuple[EcuTarget, ...]:
    """The ECU targets this release needs on this vehicle; () when it does not apply, would
    downgrade something, lacks a requirement, or is installed already."""
    if not in_stage(vehicle.vin, candidate) or not in_scope(vehicle, candidate):
        return ()
    by_hardware: dict[str, list[EcuState]] = {}
    for ecu in vehicle.ecus:
        by_hardware.setdefault(ecu.hardware_id, []).append(ecu)

    applicable = [b for b in candidate.bundles if b.hardware_id in by_hardware]
    if any(vehicle.region in b.missing_in for b in applicable):
        return ()  # never a fallback to another market's storage: no copy, no offer
    targets: list[EcuTarget] = []
    for bundle in applicable:
        for ecu in by_hardware[bundle.hardware_id]:
            if _satisfies(ecu, bundle):
                continue  # installed already, or superseded by newer software
            if ecu.installed_counter == bundle.release_counter:
                return ()  # same counter, other bytes: never a sideways move
            targets.append(EcuTarget(ecu.serial, bundle))
    if not targets:
        return ()

    coming = {t.bundle.hardware_id: t.bundle.release_counter for t in targets}
    for bundle in applicable:
        for hardware_id, minimum in bundle.requires.items():
            if not _satisfied(by_hardware.get(hardware_id, []), coming.get(hardware_id), minimum):
                return ()
    return tuple(targets)


def release_satisfied(vehicle: VehicleState, candidate: Candidate) -> bool:
    """Every part of the release that concerns this vehicle is installed or superseded."""
    return all(
        _satisfies(ecu, bundle)
        for bundle in candidate.bundles
        for ecu in vehicle.ecus
        if ecu.hardware_id == bundle.hardware_id
    )


def _satisfies(ecu: EcuState, bundle: BundleOption) -> bool:
    return ecu.installed_sha256 == bundle.sha256 or ecu.installed_counter > bundle.release_counter


def _satisfied(ecus: list[EcuState], coming: int | None, minimum: int) -> bool:
    if not ecus:
        return False
    if coming is not None:
        return coming >= minimum
    return all(ecu.installed_counter >= minimum for ecu in ecus)
