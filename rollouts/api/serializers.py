"""Vehicle input and output shapes, shared by the API, the CSV command and the demo."""

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ota.serializers import (
    MarketField,
    RejectUnknownFieldsMixin,
    StrictBooleanField,
    StrictCharField,
)
from rollouts.install_policy import time_zones, valid_time_zone
from rollouts.models import Ecu, Vehicle
from rollouts.models.fleet import validate_hardware_id, validate_serial
from rollouts.services.vehicles import EcuSpec, VehicleSpec
from rollouts.vin import VIN_PATTERN_ANY_CASE, VIN_RULE, normalize_vin
from signing import public_keys

MAX_ECUS_PER_VEHICLE = 64


class VinField(StrictCharField):
    """A VIN as a person gives it to the management API: in either case, spaces around it
    trimmed; what it stands for is its normal form (normalize_vin). The pattern is checked on
    the VIN as given, before it is upper-cased (a letter that upper-cases into the alphabet,
    like the long s, is not one), and is the schema's."""

    def __init__(self, **kwargs):
        pattern = RegexValidator(rf"^{VIN_PATTERN_ANY_CASE}\Z", VIN_RULE, code="invalid_vin")
        super().__init__(max_length=17, validators=[pattern], **kwargs)

    def run_validation(self, data=serializers.empty):
        return normalize_vin(super().run_validation(data))


class TimeZoneField(StrictCharField):
    """An IANA time zone name (Europe/Paris): the schema lists those this server knows."""

    default_error_messages = {"unknown": "An IANA time zone, like Europe/Paris."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not valid_time_zone(value):
            self.fail("unknown")
        return value

    def openapi_schema(self) -> dict:
        return {"enum": [*([""] if self.allow_blank else []), *time_zones()]}


@extend_schema_field(public_keys.SCHEMA)
class PublicKeyField(serializers.JSONField):
    """An ECU's public key in TUF form, checked and normalised (signing/public_keys.py)."""

    def to_internal_value(self, data):
        try:
            return public_keys.parse_public_key(super().to_internal_value(data))
        except public_keys.InvalidPublicKey as exc:
            raise serializers.ValidationError(str(exc)) from None


class EcuInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    serial = StrictCharField(max_length=64, validators=[validate_serial])
    hardware_id = StrictCharField(max_length=64, validators=[validate_hardware_id])
    primary = StrictBooleanField(default=False)
    public_key = PublicKeyField()


class VehicleInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    vin = VinField()
    model = StrictCharField(max_length=64)
    region = MarketField(max_length=16)
    channel = StrictCharField(max_length=40, required=False)
    time_zone = TimeZoneField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="IANA zone of its install windows, e.g. Europe/Paris; default: its market's.",
    )
    ecus = EcuInputSerializer(many=True, allow_empty=False, max_length=MAX_ECUS_PER_VEHICLE)

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
