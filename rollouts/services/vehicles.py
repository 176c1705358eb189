"""Provisioning vehicles and managing their bearer tokens."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record, audit_record_many
from rollouts.errors import (
    InvalidEcuSet,
    TokenConflict,
    UnknownChannel,
    UnknownRegion,
    VehicleExists,
)
from rollouts.models import Channel, Ecu, Vehicle, VehicleToken, VehicleType
from rollouts.tokens import issue_token
from signing.public_keys import PublicKey


@dataclass(frozen=True)
class EcuSpec:
    serial: str
    hardware_id: str
    primary: bool
    public_key: PublicKey


@dataclass(frozen=True)
class VehicleSpec:
    vin: str
    model: str
    region: str
    ecus: list[EcuSpec]
    channel: str | None = None
    time_zone: str = ""  # IANA; "": its market's


@dataclass(frozen=True)
class ProvisionedVehicle:
    vehicle: Vehicle
    token: str  # plaintext, for this answer only
    ecus: list[Ecu] = field(default_factory=list)


def vehicle_provision(*, spec: VehicleSpec, actor: Any) -> ProvisionedVehicle:
    """Register one vehicle with its ECUs and issue its first token."""
    return vehicles_provision_bulk(specs=[spec], actor=actor)[0]


@transaction.atomic
def vehicles_provision_bulk(
    *, specs: list[VehicleSpec], actor: Any, actor_label: str = ""
) -> list[ProvisionedVehicle]:
    """Register many vehicles, all or nothing, in a handful of queries.

    `actor` is the user; a command with no user names itself in `actor_label`.
    """
    for spec in specs:
        _check_ecus(spec)
        if spec.region not in settings.OTA_REGIONS:
            raise UnknownRegion(
                detail={"vin": spec.vin, "region": spec.region, "allowed": settings.OTA_REGIONS}
            )
    channels = _channels_by_name({spec.channel or settings.OTA_DEFAULT_CHANNEL for spec in specs})

    vins = [spec.vin for spec in specs]
    taken = sorted(Vehicle.objects.filter(vin__in=vins).values_list("vin", flat=True))
    if taken:
        raise VehicleExists(detail={"vins": taken})

    vehicles = [
        Vehicle(
            vin=spec.vin,
            model=spec.model,
            region=spec.region,
            time_zone=spec.time_zone,
            channel=channels[spec.channel or settings.OTA_DEFAULT_CHANNEL],
        )
        for spec in specs
    ]
    try:
        # A savepoint, so a lost race surfaces as a clean conflict rather than a broken transaction.
        with transaction.atomic():
            Vehicle.objects.bulk_create(vehicles)
    except IntegrityError:
        raise VehicleExists(detail={"vins": vins}) from None
    types = sorted({(v.region, v.model) for v in vehicles})  # a market's types, read cheaply
    VehicleType.objects.bulk_create(
        [VehicleType(market=market, model=model) for market, model in types],
        ignore_conflicts=True,
    )

    ecus_by_vehicle = [
        [
            Ecu(
                vehicle=vehicle,
                serial=ecu.serial,
                hardware_id=ecu.hardware_id,
                primary=ecu.primary,
                public_key=ecu.public_key.key,
                keyid=ecu.public_key.keyid,
            )
            for ecu in spec.ecus
        ]
        for vehicle, spec in zip(vehicles, specs, strict=True)
    ]
    Ecu.objects.bulk_create([ecu for ecus in ecus_by_vehicle for ecu in ecus])

    issued = [issue_token() for _ in vehicles]
    VehicleToken.objects.bulk_create(
        VehicleToken(vehicle=vehicle, public_id=token.public_id, secret_hash=token.secret_hash)
        for vehicle, token in zip(vehicles, issued, strict=True)
    )
    audit_record_many(
        actor=actor, actor_label=actor_label, action="vehicle.provisioned", targets=vehicles
    )
    return [
        ProvisionedVehicle(vehicle=vehicle, token=token.plaintext, ecus=ecus)
        for vehicle, token, ecus in zip(vehicles, issued, ecus_by_vehicle, strict=True)
    ]


def _check_ecus(spec: VehicleSpec) -> None:
    serials = [ecu.serial for ecu in spec.ecus]
    primaries = sum(1 for ecu in spec.ecus if ecu.primary)
    if not spec.ecus or primaries != 1 or len(set(serials)) != len(serials):
        raise InvalidEcuSet(detail={"vin": spec.vin, "primaries": primaries, "serials": serials})


def _channels_by_name(names: set[str]) -> dict[str, Channel]:
    channels = {channel.name: channel for channel in Channel.objects.filter(name__in=names)}
    missing = sorted(names - channels.keys())
    if missing:
        raise UnknownChannel(
            detail={
                "channels": missing,
                "known": list(Channel.objects.values_list("name", flat=True)),
            }
        )
    return channels


@transaction.atomic
def vehicle_token_revoke(*, vehicle: Vehicle, actor: Any, reason: str = "") -> bool:
    """Revoke the vehicle's active token. False when it had none (nothing changed)."""
    revoked = VehicleToken.objects.filter(vehicle=vehicle, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        audit_record(actor=actor, action="vehicle.token_revoked", target=vehicle, reason=reason)
    return bool(revoked)


@transaction.atomic
def vehicle_token_rotate(*, vehicle: Vehicle, actor: Any, reason: str = "") -> str:
    """Revoke the active token and issue a new one; the plaintext is returned once."""
    VehicleToken.objects.filter(vehicle=vehicle, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token = issue_token()
    try:
        with transaction.atomic():
            VehicleToken.objects.create(
                vehicle=vehicle, public_id=token.public_id, secret_hash=token.secret_hash
            )
    except IntegrityError:  # a concurrent rotation issued one first
        raise TokenConflict() from None
    audit_record(actor=actor, action="vehicle.token_rotated", target=vehicle, reason=reason)
    return token.plaintext


def _last_seen_stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.OTA_LAST_SEEN_RESOLUTION_SECONDS)


def last_seen_due(vehicle: Vehicle, now: datetime) -> bool:
    """Whether `last_seen_at` (an indexed column) is older than its resolution period: it is
    written at most that often."""
    return vehicle.last_seen_at is None or vehicle.last_seen_at < _last_seen_stale_before(now)


def vehicle_touch(*, vehicle: Vehicle) -> None:
    """Note that the vehicle was seen, writing at most once per resolution period."""
    now = timezone.now()
    if not last_seen_due(vehicle, now):
        return
    stale = _last_seen_stale_before(now)
    Vehicle.objects.filter(pk=vehicle.pk).filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=stale)
    ).update(last_seen_at=now)
    vehicle.last_seen_at = now
