"""Reads of the type-approval records: vehicle types per market, the register, approvals."""

from compliance.models import RxswinEntry, VehicleRxswin
from rollouts.models import Release, Vehicle


def vehicle_types(*, release: Release, market: str) -> set[str]:
    """The vehicle types (models) the release reaches in this market: those it names, or
    every type that has cars or a register entry there."""
    if release.model_names:
        return set(release.model_names)
    cars = Vehicle.objects.filter(region=market).values_list("model", flat=True).distinct()
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


def vehicle_rxswin(vehicle: Vehicle) -> dict:
    """The vehicle's RXSWIN now: moved by its last update that changed it, or its type's
    first in the register."""
    own = VehicleRxswin.objects.select_related("release").filter(vehicle=vehicle).first()
    if own is not None:
        rxswin, since, release = own.rxswin, own.since, own.release.version if own.release else None
    else:
        first = (
            RxswinEntry.objects.filter(model=vehicle.model, market=vehicle.region, release=None)
            .order_by("recorded_at", "pk")
            .first()
        )
        rxswin, since, release = (first.rxswin if first else ""), None, None
    return {
        "vin": vehicle.vin,
        "model": vehicle.model,
        "market": vehicle.region,
        "rxswin": rxswin,
        "since": since,
        "release": release,
    }
