"""Vehicle protocol v1: endpoints a vehicle calls with its bearer token."""

import re

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ota.api import JsonOnlyNegotiation
from ota.serializers import (
    MAX_BIGINT,
    RejectUnknownFieldsMixin,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StrictUUIDField,
)
from rollouts.api.auth import (
    IsPathVehicle,
    VehicleRateThrottle,
    VehicleTokenAuthentication,
    vehicle_metadata_endpoint,
)
from rollouts.api.consent import ConsentSerializer
from rollouts.api.serializers import VehicleOutputSerializer
from rollouts.manifest_checks import MAX_ECU_REPORTS, manifest_problems
from rollouts.models import ChangeVia, EventType, Vehicle
from rollouts.models.telemetry import DeferralReason
from rollouts.services.channels import vehicle_channel_set
from rollouts.services.director import director_timestamp_current
from rollouts.services.manifests import vehicle_manifest_receive
from rollouts.services.telemetry import events_ingest, health_ingest
from rollouts.telemetry_bounds import MAX_COUNT
from signing.models import Repo
from signing.views import metadata_bytes_response, metadata_response


class VehicleApiView(APIView):
    """Base for every vehicle endpoint: bearer token, bound to the VIN in the path."""

    authentication_classes = [VehicleTokenAuthentication]
    permission_classes = [IsPathVehicle]
    throttle_classes = [VehicleRateThrottle]
    content_negotiation_class = JsonOnlyNegotiation


class VehicleSelfOutputSerializer(VehicleOutputSerializer):
    class Meta(VehicleOutputSerializer.Meta):
        fields = ["vin", "model", "region", "channel", "ecus"]


class VehicleSelfApi(VehicleApiView):
    """What the server knows of this vehicle: a check of provisioning and token."""

    @extend_schema(operation_id="vehicle_self", responses=VehicleSelfOutputSerializer)
    def get(self, request: Request, vin: str) -> Response:
        return Response(VehicleSelfOutputSerializer(request.auth).data)


# --- manifest ---------------------------------------------------------------------------------

HEX64 = r"^[0-9a-f]{64}$"


class SignatureSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    keyid = serializers.RegexField(HEX64)
    sig = serializers.RegexField(r"^[0-9a-f]{2,2048}$")


class HashesField(serializers.DictField):
    """Digests by algorithm; the image is known by its sha256, which is required."""

    def openapi_schema(self) -> dict:
        return {
            "properties": {"sha256": {"type": "string", "pattern": HEX64}},
            "required": ["sha256"],
        }


class FileInfoSerializer(serializers.Serializer):
    length = StrictIntegerField(min_value=0, max_value=MAX_BIGINT)
    hashes = HashesField(child=StrictCharField(max_length=128), allow_empty=False)

    def validate_hashes(self, hashes):
        if "sha256" not in hashes:
            raise serializers.ValidationError("sha256 is required.")
        if not re.fullmatch(HEX64, hashes["sha256"]):
            raise serializers.ValidationError({"sha256": "Expected 64 hex digits."})
        return hashes


class InstalledImageSerializer(serializers.Serializer):
    filepath = StrictCharField(max_length=200, allow_blank=True)
    fileinfo = FileInfoSerializer()


class EcuReportSignedSerializer(serializers.Serializer):
    ecu_serial = StrictCharField(max_length=64)
    hardware_id = StrictCharField(max_length=64)
    installed_image = InstalledImageSerializer()
    report_counter = StrictIntegerField(min_value=0, required=False)
    attacks_detected = StrictCharField(allow_blank=True, required=False, max_length=1000)


class EcuReportSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    signed = EcuReportSignedSerializer()
    signatures = SignatureSerializer(many=True, max_length=8)


class ManifestSignedSerializer(serializers.Serializer):
    vin = StrictCharField(max_length=17)
    primary_ecu_serial = StrictCharField(max_length=64)
    report_counter = StrictIntegerField(min_value=0, max_value=2**62)
    ecu_version_reports = serializers.DictField(
        child=EcuReportSerializer(),
        allow_empty=False,
        validators=[MaxLengthValidator(MAX_ECU_REPORTS)],  # the schema's maxProperties
    )
    state = serializers.DictField(required=False)
    install_policy_version = StrictIntegerField(
        min_value=0,
        max_value=100,
        required=False,
        help_text="The install policy format the car obeys (0 or absent: none).",
    )


class ManifestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    signed = ManifestSignedSerializer()
    signatures = SignatureSerializer(many=True, allow_empty=False, max_length=8)


class ManifestApi(VehicleApiView):
    max_body_bytes = settings.OTA_MAX_MANIFEST_BYTES
    writes_last_seen = True  # in the manifest's own one-row write
    reads_ecus = True  # with the token: the keys the manifest is checked against

    @extend_schema(
        operation_id="vehicle_manifest",
        request=ManifestSerializer,
        responses=inline_serializer(
            "ManifestAccepted",
            {
                "poll_after": serializers.IntegerField(),
                "director_targets_version": serializers.IntegerField(),
                "dropped_reports": serializers.ListField(child=serializers.CharField()),
            },
        ),
    )
    def put(self, request: Request, vin: str) -> Response:
        # The shape ManifestSerializer documents, checked without DRF's field machinery.
        data = request.data  # parsing keeps the text it parsed: the body exactly as sent
        raw = request.parser_context.get("body_text")
        # NUL and lone surrogates: LimitedJSONParser refused them already (ota/text.py).
        problems = manifest_problems(data, raw, text_rules_checked=True)
        if problems:
            raise ValidationError(problems)
        # Signatures are checked over the body exactly as the vehicle sent it.
        answer = vehicle_manifest_receive(vehicle=request.auth, manifest=data, raw=raw)
        return Response(
            {
                "poll_after": answer.poll_after,
                "director_targets_version": answer.director_targets_version,
                "dropped_reports": answer.dropped_reports,
            }
        )


# --- telemetry --------------------------------------------------------------------------------


class EventSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    id = StrictUUIDField()
    correlation_id = StrictCharField(max_length=64, required=False, allow_blank=True)
    ecu_serial = StrictCharField(max_length=64, required=False, allow_blank=True)
    type = serializers.ChoiceField(choices=EventType.choices)
    at = serializers.DateTimeField()
    error_code = StrictCharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Why it failed; for install_deferred, why the car waits: "
        + ", ".join(DeferralReason.values)
        + ".",
    )
    detail = StrictCharField(max_length=2000, required=False, allow_blank=True)
    delta = StrictCharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="download_completed only: the Image target path of the delta the car applied "
        "(and verified) instead of downloading the full image.",
    )

    def validate(self, data):
        if data.get("delta") and data["type"] != EventType.DOWNLOAD_COMPLETED:
            raise serializers.ValidationError({"delta": "Only a download_completed names a delta."})
        code = data.get("error_code")
        if data["type"] == EventType.INSTALL_DEFERRED and code and code not in DeferralReason:
            raise serializers.ValidationError(
                {"error_code": f"A deferral's code is one of {', '.join(DeferralReason.values)}."}
            )
        return data


class EventBatchSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    events = EventSerializer(
        many=True, allow_empty=False, max_length=settings.OTA_MAX_TELEMETRY_BATCH
    )


class CountField(StrictIntegerField):
    """A count in one window. More than a car can reach is refused with the window's other
    bounds (422 out_of_range, naming the item: rollouts/telemetry_bounds.py); the schema
    states the bound."""

    def __init__(self, **kwargs):
        super().__init__(min_value=0, **kwargs)

    def openapi_schema(self) -> dict:
        return {"maximum": MAX_COUNT}


MAX_WINDOW_ENTRIES = 200  # DTCs, and metrics, in one window


class HealthWindowSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """The shape of a window. What no car can report (driving longer than the window, counts
    beyond rollouts/telemetry_bounds.py, overlapping windows) is refused whole with 422."""

    id = StrictUUIDField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    driving_seconds = StrictIntegerField(min_value=0)
    ignition_cycles = CountField()
    crashes = CountField()
    reboots = CountField()
    dtcs = serializers.DictField(
        child=CountField(),
        required=False,
        validators=[MaxLengthValidator(MAX_WINDOW_ENTRIES)],
    )
    metrics = serializers.DictField(
        child=StrictFloatField(),
        required=False,
        validators=[MaxLengthValidator(MAX_WINDOW_ENTRIES)],
    )

    def validate(self, data):
        if data["end"] <= data["start"]:
            raise serializers.ValidationError({"end": "A window ends after it starts."})
        return data


class HealthBatchSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    windows = HealthWindowSerializer(
        many=True, allow_empty=False, max_length=settings.OTA_MAX_TELEMETRY_BATCH
    )


INGESTED = inline_serializer(
    "Ingested", {"accepted": serializers.IntegerField(), "duplicates": serializers.IntegerField()}
)


class EventsApi(VehicleApiView):
    max_body_bytes = 1024 * 1024

    @extend_schema(operation_id="vehicle_events", request=EventBatchSerializer, responses=INGESTED)
    def post(self, request: Request, vin: str) -> Response:
        batch = EventBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        result = events_ingest(vehicle=request.auth, events=batch.validated_data["events"])
        return Response({"accepted": result.accepted, "duplicates": result.duplicates})


class HealthApi(VehicleApiView):
    max_body_bytes = 1024 * 1024

    @extend_schema(operation_id="vehicle_health", request=HealthBatchSerializer, responses=INGESTED)
    def post(self, request: Request, vin: str) -> Response:
        batch = HealthBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        result = health_ingest(vehicle=request.auth, windows=batch.validated_data["windows"])
        return Response({"accepted": result.accepted, "duplicates": result.duplicates})


# --- channel ----------------------------------------------------------------------------------


class ChannelInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    channel = StrictCharField(max_length=40)
    consent = ConsentSerializer(required=False)


class VehicleChannelApi(VehicleApiView):
    @extend_schema(
        operation_id="vehicle_channel",
        request=ChannelInputSerializer,
        responses=VehicleSelfOutputSerializer,
    )
    def put(self, request: Request, vin: str) -> Response:
        data = ChannelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consent = data.validated_data.get("consent") or {}
        vehicle = vehicle_channel_set(
            vehicle=request.auth,
            channel_name=data.validated_data["channel"],
            via=ChangeVia.VEHICLE,
            consent_by=consent.get("by") or "driver",
            terms_version=consent.get("terms_version", ""),
        )
        return Response(VehicleSelfOutputSerializer(vehicle).data)


# --- Director metadata ------------------------------------------------------------------------


@csrf_exempt  # no cookie session here: a PUT is 405, not CSRF's 403
@require_safe
@vehicle_metadata_endpoint
def director_metadata(request: HttpRequest, vehicle: Vehicle, filename: str) -> HttpResponse:
    """This vehicle's Director metadata, exact bytes. The root is shared by every vehicle.
    Outside DRF (the busiest GET there is); documented in ota/schema.py."""
    if filename == "timestamp.json":
        # Signed again first if it is due (near its expiry), then served from the vehicle row.
        timestamp = director_timestamp_current(vehicle=vehicle)
        if timestamp is not None:
            return metadata_bytes_response(request, timestamp, per_vehicle=True)
    scope = "" if filename.endswith("root.json") else vehicle.vin
    return metadata_response(request, Repo.DIRECTOR, filename, scope)
