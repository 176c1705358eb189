"""Reads of the type-approval records: vehicle types per market, the register, approvals."""

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from compliance.models import MarketApproval, RxswinEntry, VehicleRxswin
from rollouts.models import Release, ReleaseStatus, Vehicle, VehicleType
from rollouts.selectors import awaiting_type_approval, release_markets
from signing import storage
from signing.models import BundleCopy, CopyStatus


def vehicle_types(*, release: Release, market: str) -> set[str]:
    """The vehicle types (models) the release reaches in this market: those it names, or
    every type that has cars or a register entry there."""
    if release.model_names:
        return set(release.model_names)
    return market_types(market=market)


def market_types(*, market: str) -> set[str]:
    """Every vehicle type that has cars or a register entry in the market: the fleet's types
    are kept as cars are provisioned (`VehicleType`), never read from the cars."""
    cars = VehicleType.objects.filter(market=market).values_list("model", flat=True)
    registered = RxswinEntry.objects.filter(market=market).values_list("model", flat=True)
    return set(cars) | set(registered)


def current_rxswins(*, market: str, models) -> dict[str, str]:
    """The register's newest RXSWIN of each of these vehicle types in this market."""
    current: dict[str, str] = {}
    for entry in RxswinEntry.objects.filter(market=market, model__in=list(models)).order_by(
        "recorded_at", "pk"
    ):
        current[entry.model] = entry.rxswin
    return current


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
    approvals = {
        a.market: a
        for a in MarketApproval.objects.filter(release=release)
        .select_related("release", "approved_by")
        .prefetch_related("assessments")
    }
    own = set(storage.replica_regions())
    bundle_ids = list(release.items.values_list("bundle_id", flat=True))
    copies = {
        row["market"]: row
        for row in BundleCopy.objects.filter(bundle_id__in=bundle_ids, delta=None)
        .values("market")
        .annotate(
            verified=Count("pk", filter=Q(status=CopyStatus.VERIFIED)),
            copying=Count("pk", filter=Q(status=CopyStatus.COPYING)),
            failed=Count("pk", filter=Q(status=CopyStatus.FAILED)),
        )
    }
    states = []
    for market in release_markets(release):
        types = sorted(vehicle_types(release=release, market=market))
        if market in release.approved_markets:
            approval_state = "approved"
        elif awaiting_type_approval(release, [market]):
            approval_state = "awaiting"
        else:
            approval_state = "not_required"
        row = copies.get(market, {"verified": 0, "copying": 0, "failed": 0})
        states.append(
            {
                "market": market,
                "type_approval": approval_state,
                "approval": approvals.get(market),
                "vehicle_types": types,
                "current_rxswins": current_rxswins(market=market, models=types),
                "storage": "own" if market in own else "home",
                "copies": {
                    "verified": row["verified"],
                    "copying": row["copying"],
                    "failed": row["failed"],
                    "bundles": len(bundle_ids),
                }
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
    states = {release.pk: release_market_states(release) for release in recent}
    overview = []
    for market in settings.OTA_REGIONS:
        types = sorted(market_types(market=market))
        rxswins = current_rxswins(market=market, models=types)
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
