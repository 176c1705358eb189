"""Moving a vehicle between channels, with the consent trail forever beta needs."""

from typing import Any

from django.conf import settings
from django.db import transaction

from audit.services import audit_record
from ota.errors import Forbidden, Malformed
from rollouts.errors import UnknownChannel
from rollouts.locks import lock_vehicle
from rollouts.models import ChangeVia, Channel, ChannelChange, Vehicle
from rollouts.services.decisions import vehicles_decisions_changed


class ConsentRequired(Malformed):
    code = "consent_required"
    message = "Joining this channel needs the driver's consent: give consent.terms_version."


class NotSelfService(Forbidden):
    code = "channel_not_self_service"
    message = "From the vehicle, only a self-service channel (forever beta) can be joined or left."


@transaction.atomic
def vehicle_channel_set(
    *,
    vehicle: Vehicle,
    channel_name: str,
    via: str,
    actor: Any = None,
    consent_by: str = "",
    terms_version: str = "",
) -> Vehicle:
    """Put the vehicle on a channel. Nothing is downgraded: the decision never offers a lower
    release counter, so a vehicle leaving forever beta keeps its newer software."""
    vehicle = lock_vehicle(vehicle.pk)
    target = Channel.objects.filter(name=channel_name).first()
    if target is None:
        raise UnknownChannel(detail={"channels": [channel_name]})
    if target.pk == vehicle.channel_id:
        return vehicle
    default = settings.OTA_DEFAULT_CHANNEL
    if via == ChangeVia.VEHICLE:
        joining = target.self_service
        leaving = vehicle.channel.self_service and target.name == default
        if not (joining or leaving):
            raise NotSelfService(detail={"channel": target.name})
    if target.self_service and not terms_version.strip():
        raise ConsentRequired(detail={"channel": target.name})

    previous = vehicle.channel
    Vehicle.objects.filter(pk=vehicle.pk).update(channel=target)
    vehicles_decisions_changed(vehicle_ids=[vehicle.pk])
    ChannelChange.objects.create(
        vehicle=vehicle,
        from_channel=previous,
        to_channel=target,
        via=via,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        consent_by=consent_by[:150],
        terms_version=terms_version[:40],
    )
    audit_record(
        actor=actor,
        actor_label="" if getattr(actor, "is_authenticated", False) else f"{via}:{vehicle.vin}",
        action="vehicle.channel_changed",
        target=vehicle,
        data={"from": previous.name, "to": target.name, "via": via, "terms_version": terms_version},
    )
    vehicle.channel = target
    return vehicle
