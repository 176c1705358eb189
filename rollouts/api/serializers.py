"""Vehicle input and output shapes, shared by the API, the CSV command and the demo."""

from django.conf import settings
from rest_framework import serializers

from ota.serializers import RejectUnknownFieldsMixin, StrictBooleanField, StrictCharField
from rollouts.install_policy import valid_time_zone
from rollouts.models import Ecu, Vehicle
from rollouts.models.fleet import validate_hardware_id, validate_serial
from rollouts.services.vehicles import EcuSpec, VehicleSpec
from rollouts.vin import VIN_RULE, is_valid_vin, normalize_vin
from signing.public_keys import InvalidPublicKey, parse_public_key

MAX_ECUS_PER_VEHICLE = 64


class EcuInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    serial = StrictCharField(max_length=64, validators=[validate_serial])
    hardware_id = StrictCharField(max_length=64, validators=[validate_hardware_id])
    primary = StrictBooleanField(default=False)
    public_key = serializers.JSONField()

    def validate_public_key(self, value):
        try:
            return parse_public_key(value)
        except InvalidPublicKey as exc:
            raise serializers.ValidationError(str(exc)) from None


class VehicleInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    vin = StrictCharField(max_length=32)
    model = StrictCharField(max_length=64)
    region = StrictCharField(max_length=16)
    channel = StrictCharField(max_length=40, required=False)
    time_zone = StrictCharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="IANA zone of its install windows, e.g. Europe/Paris; default: its market's.",
    )
    ecus = EcuInputSerializer(many=True, allow_empty=False, max_length=MAX_ECUS_PER_VEHICLE)

    def validate_time_zone(self, value: str) -> str:
        if value and not valid_time_zone(value):
            raise serializers.ValidationError("An IANA time zone, like Europe/Paris.")
        return value

    def validate_vin(self, value: str) -> str:
        vin = normalize_vin(value)
        if not is_valid_vin(vin):
            raise serializers.ValidationError(VIN_RULE)
        return vin

    def validate_region(self, value: str) -> str:
        if value not in settings.OTA_REGIONS:
            raise serializers.ValidationError(
                f"Unknown region; configured regions are {', '.join(settings.OTA_REGIONS)}."
            )
        return value

    def validate_ecus(self, ecus: list[dict]) -> list[dict]:
        if sum(1 for ecu in ecus if ecu["primary"]) != 1:
            raise serializers.ValidationError("Exactly one ECU must be primary.")
        serials = [ecu["serial"] for ecu in ecus]
        if len(set(serials)) != len(serials):
            raise serializers.ValidationError("ECU serials must be distinct within a vehicle.")
        return ecus

    @staticmethod
    def to_spec(data: dict) -> VehicleSpec:
        return VehicleSpec(
            vin=data["vin"],
            model=data["model"],
            region=data["region"],
            channel=data.get("channel"),
            time_zone=data.get("time_zone", ""),
            ecus=[
                EcuSpec(
                    serial=ecu["serial"],
                    hardware_id=ecu["hardware_id"],
                    primary=ecu["primary"],
                    public_key=ecu["public_key"],
                )
                for ecu in data["ecus"]
            ],
        )


class BulkVehicleInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    vehicles = VehicleInputSerializer(
        many=True, allow_empty=False, max_length=settings.OTA_BULK_PROVISION_MAX
    )

    def validate_vehicles(self, vehicles: list[dict]) -> list[dict]:
        seen: set[str] = set()
        repeated = sorted({v["vin"] for v in vehicles if v["vin"] in seen or seen.add(v["vin"])})
        if repeated:
            raise serializers.ValidationError(f"VINs appear more than once: {', '.join(repeated)}.")
        return vehicles


class EcuOutputSerializer(serializers.ModelSerializer):
    installed_image = serializers.SerializerMethodField()

    class Meta:
        model = Ecu
        fields = ["serial", "hardware_id", "primary", "keyid", "public_key", "installed_image"]

    def get_installed_image(self, ecu: Ecu) -> dict | None:
        if not ecu.installed_path and not ecu.installed_sha256:
            return None
        bundle = ecu.installed_bundle
        return {
            "filepath": ecu.installed_path,
            "length": ecu.installed_length,
            "sha256": ecu.installed_sha256,
            "known": bundle is not None,  # False: a factory or workshop image (counter 0)
            "version": bundle.version if bundle else None,
            "release_counter": ecu.installed_release_counter,
            "since": ecu.installed_at,
        }


class VehicleOutputSerializer(serializers.ModelSerializer):
    time_zone = serializers.CharField(
        source="effective_time_zone", read_only=True, help_text="Its own, else its market's."
    )
    channel = serializers.SlugRelatedField(slug_field="name", read_only=True)
    ecus = EcuOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Vehicle
        fields = [
            "vin",
            "model",
            "region",
            "time_zone",
            "channel",
            "created_at",
            "last_seen_at",
            "ecus",
        ]


class ProvisionedVehicleOutputSerializer(VehicleOutputSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; only its hash is kept.")

    class Meta(VehicleOutputSerializer.Meta):
        fields = [*VehicleOutputSerializer.Meta.fields, "token"]


def provisioned_output(provisioned) -> dict:
    """The answer to a provisioning: the vehicle as stored, and its token this once."""
    vehicle = provisioned.vehicle
    # The ECUs were just created; hand them over instead of querying them again.
    vehicle._prefetched_objects_cache = {"ecus": provisioned.ecus}
    return {**VehicleOutputSerializer(vehicle).data, "token": provisioned.token}
