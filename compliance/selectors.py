"""Reads of the type-approval records: vehicle types per market, the register, approvals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from compliance.models import MarketApproval, RxswinEntry, VehicleRxswin
from rollouts.models import Release, ReleaseBundle, ReleaseStatus, Vehicle, VehicleType
from rollouts.selectors import awaiting_type_approval, release_markets
from signing import storage
from signing.models import BundleCopy, CopyStatus


def vehicle_types(*, release: Release, market: str, known: Register | None = None) -> set[str]:
    """The vehicle types (models) the release reaches in this market: those it names, or
    every type that has cars or a register entry there (`known`: the register at hand)."""
    if release.model_names:
        return set(release.model_names)
    return (known or register(market=market)).types(market)


@dataclass(frozen=True)
class Register:
    """The fleet's vehicle types per market (kept as cars are provisioned: `VehicleType`,
    never read from the cars) and the RXSWIN register, read in two statements for as many
    markets and releases as a page shows."""

    fleet_types: dict[str, set[str]]  # market: the types it has cars of
    entries: list[RxswinEntry]  # oldest first

    def types(self, market: str) -> set[str]:
        """Every vehicle type that has cars or a register entry in the market."""
        registered = {e.model for e in self.entries if e.market == market}
        return self.fleet_types.get(market, set()) | registered

    def current(self, market: str, models) -> dict[str, str]:
        """The register's newest RXSWIN of each of these vehicle types in this market."""
        wanted, current = set(models), {}
        for entry in self.entries:
            if entry.market == market and entry.model in wanted:
                current[entry.model] = entry.rxswin
        return current


def register(*, market: str | None = None) -> Register:
    """The `Register` of one market, or of every market."""
    types, entries = VehicleType.objects.all(), RxswinEntry.objects.order_by("recorded_at", "pk")
    if market is not None:
        types, entries = types.filter(market=market), entries.filter(market=market)
    fleet_types: dict[str, set[str]] = defaultdict(set)
    for type_market, model in types.values_list("market", "model"):
        fleet_types[type_market].add(model)
    return Register(dict(fleet_types), list(entries))


def current_rxswins(*, market: str, models) -> dict[str, str]:
    """The register's newest RXSWIN of each of these vehicle types in this market."""
    return register(market=market).current(market, models)


def with_rxswin(vehicles: QuerySet[Vehicle]) -> QuerySet[Vehicle]:
    """Each vehicle with `rxswin_now`: its own once an update moved it, else its type's
    first in the register (as type-approved), else ""."""
    own = VehicleRxswin.objects.filter(vehicle=OuterRef("pk")).values("rxswin")[:1]
    first = (
        RxswinEntry.objects.filter(model=OuterRef("model"), market=OuterRef("region"), release=None)
        .order_by("recorded_at", "pk")
        .values("rxswin")[:1]
    )
    return vehicles.annotate(rxswin_now=Coalesce(Subquery(own), Subquery(first), Value("")))


def vehicle_rxswin(vehicle: Vehicle) -> dict:
    """The vehicle's RXSWIN now, and since when and by which update it moved (none: as
    type-approved)."""
    now = with_rxswin(Vehicle.objects.filter(pk=vehicle.pk)).values_list("rxswin_now", flat=True)
    own = VehicleRxswin.objects.select_related("release").filter(vehicle=vehicle).first()
    return {
        "vin": vehicle.vin,
        "model": vehicle.model,
        "market": vehicle.region,
        "rxswin": now.get(),
        "since": own.since if own else None,
        "release": own.release.version if own and own.release else None,
    }


def release_market_states(release: Release) -> list[dict]:
    """Each market the release targets: its type approval, the types to assess, and its
    bundles' copies where the market keeps its own storage."""
    return releases_market_states([release], register())[release.pk]


def releases_market_states(releases: list[Release], known: Register) -> dict[int, list[dict]]:
    """`release_market_states` of each of these releases, in four statements for them all."""
    ids = [release.pk for release in releases]
    approvals = {
        (a.release_id, a.market): a
        for a in MarketApproval.objects.filter(release_id__in=ids)
        .select_related("release", "approved_by")
        .prefetch_related("assessments")
    }
    own = set(storage.replica_regions())
    bundles: dict[int, list[int]] = defaultdict(list)
    for release_id, bundle_id in ReleaseBundle.objects.filter(release_id__in=ids).values_list(
        "release_id", "bundle_id"
    ):
        bundles[release_id].append(bundle_id)
    by_bundle: dict[tuple[int, str], dict] = {
        (row["bundle_id"], row["market"]): row
        for row in BundleCopy.objects.filter(
            bundle_id__in={b for found in bundles.values() for b in found}, delta=None
        )
        .values("bundle_id", "market")
        .annotate(
            verified=Count("pk", filter=Q(status=CopyStatus.VERIFIED)),
            copying=Count("pk", filter=Q(status=CopyStatus.COPYING)),
            failed=Count("pk", filter=Q(status=CopyStatus.FAILED)),
        )
        .order_by()
    }
    states: dict[int, list[dict]] = {}
    for release in releases:
        states[release.pk] = []
        for market in release_markets(release):
            types = sorted(vehicle_types(release=release, market=market, known=known))
            if market in release.approved_markets:
                approval_state = "approved"
            elif awaiting_type_approval(release, [market]):
                approval_state = "awaiting"
            else:
                approval_state = "not_required"
            copies = {"verified": 0, "copying": 0, "failed": 0}
            for bundle_id in bundles[release.pk]:
                for kind, n in by_bundle.get((bundle_id, market), {}).items():
                    if kind in copies:
                        copies[kind] += n
            states[release.pk].append(
                {
                    "market": market,
                    "type_approval": approval_state,
                    "approval": approvals.get((release.pk, market)),
                    "vehicle_types": types,
                    "current_rxswins": known.current(market, types),
                    "storage": "own" if market in own else "home",
                    "copies": {**copies, "bundles": len(bundles[release.pk])}
                    if market in own
                    else None,
                }
            )
    return states


def markets_overview(*, releases: int = 10) -> list[dict]:
    """Each market: where its bundles live, whether it asks for type approval, its cars and
    vehicle types with their RXSWINs, and the latest approved releases' state there."""
    cars = dict(Vehicle.objects.values_list("region").annotate(n=Count("pk")).order_by("region"))
    recent = list(
        Release.objects.filter(status=ReleaseStatus.APPROVED).order_by("-approved_at")[:releases]
    )
    known = register()
    states = releases_market_states(recent, known)
    overview = []
    for market in settings.OTA_REGIONS:
        types = sorted(known.types(market))
        rxswins = known.current(market, types)
        overview.append(
            {
                "market": market,
                "storage": storage.describe(market),
                "time_zone": settings.OTA_MARKET_TIME_ZONES.get(market, "UTC"),
                "type_approval_required": market in settings.OTA_TYPE_APPROVAL_MARKETS,
                "vehicles": cars.get(market, 0),
                "vehicle_types": [{"model": t, "rxswin": rxswins.get(t, "")} for t in types],
                "releases": [
                    {"release": release.version, "release_id": release.pk, **state}
                    for release in recent
                    for state in states[release.pk]
                    if state["market"] == market
                ],
            }
        )
    return overview
