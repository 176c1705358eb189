"""Reads of the fleet."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from rollouts.models import Cohort, CohortKind, Ecu, Vehicle, VehicleToken
from rollouts.tokens import secret_matches, split_token


def vehicle_for_token(*, token: str) -> Vehicle | None:
    """The vehicle an active token belongs to, or None. One query."""
    parts = split_token(token)
    if parts is None:
        return None
    public_id, secret = parts
    row = (
        VehicleToken.objects.select_related("vehicle__channel")
        .filter(public_id=public_id, revoked_at__isnull=True)
        .first()
    )
    if row is None or not secret_matches(secret, row.secret_hash):
        return None
    return row.vehicle


def vehicle_get(*, vin: str) -> Vehicle | None:
    return vehicle_detail_queryset().filter(vin=vin).first()


def vehicle_detail_queryset() -> QuerySet[Vehicle]:
    return Vehicle.objects.select_related("channel").prefetch_related("ecus__installed_bundle")


def vehicle_list(
    *, region: str | None = None, model: str | None = None, channel: str | None = None
) -> QuerySet[Vehicle]:
    qs = vehicle_detail_queryset()
    if region:
        qs = qs.filter(region=region)
    if model:
        qs = qs.filter(model=model)
    if channel:
        qs = qs.filter(channel__name=channel)
    return qs


def cohort_vehicles(*, cohort: Cohort) -> QuerySet[Vehicle]:
    """The vehicles a cohort holds now, as a query: the same rule as `targeting.in_cohort`
    (a test holds the two to agreement), for counts and lists without loading the fleet."""
    if cohort.kind == CohortKind.STATIC:
        return Vehicle.objects.filter(cohort_memberships__cohort=cohort)
    vehicles = Vehicle.objects.all()
    if cohort.model_names:
        vehicles = vehicles.filter(model__in=cohort.model_names)
    if cohort.regions:
        vehicles = vehicles.filter(region__in=cohort.regions)
    if cohort.hardware_ids:
        vehicles = vehicles.filter(
            Exists(Ecu.objects.filter(vehicle=OuterRef("pk"), hardware_id__in=cohort.hardware_ids))
        )
    for rule in cohort.installed:
        ecus = Ecu.objects.filter(vehicle=OuterRef("pk"), hardware_id=rule["hardware_id"])
        if rule.get("versions"):
            ecus = ecus.filter(installed_bundle__version__in=rule["versions"])
        # An image the server does not know counts as release counter 0.
        if rule.get("min_counter"):
            ecus = ecus.filter(installed_bundle__release_counter__gte=rule["min_counter"])
        if rule.get("max_counter") is not None:
            ecus = ecus.filter(
                Q(installed_bundle__isnull=True)
                | Q(installed_bundle__release_counter__lte=rule["max_counter"])
            )
        vehicles = vehicles.filter(Exists(ecus))
    return vehicles
