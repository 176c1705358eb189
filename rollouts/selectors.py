"""Reads of the fleet."""

from django.db.models import QuerySet

from rollouts.models import Vehicle, VehicleToken
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
