"""Management API for markets: a release's state per market (type approval, copies), the
per-market approval with its impact assessment, and the RXSWIN register."""

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import rxswin
from compliance.models import (
    EvidenceExport,
    ExportFormat,
    ExportKey,
    ExportScope,
    ExportStatus,
    KeyPurpose,
    MarketApproval,
    RxswinEntry,
)
from compliance.selectors import markets_overview, release_market_states, vehicle_rxswin
from compliance.services.approvals import market_approve, rxswin_register
from compliance.services.exports import digest_line, evidence_export_request
from compliance.services.exports import storage as exports_storage
from compliance.services.keys import export_key_active, public_key_pem, verify_command
from ota.api import JsonOnlyNegotiation
from ota.errors import NotFound
from ota.serializers import (
    MAX_BIGINT,
    MarketField,
    RejectUnknownFieldsMixin,
    StrictBooleanField,
    StrictCharField,
)
from rollouts.api.serializers import VinField
from rollouts.models import Release, Vehicle


class ReleaseNotFound(NotFound):
    code = "release_not_found"
    message = "No release has this id."


@extend_schema_field({"type": "string", "pattern": f"^(?:{rxswin.RXSWIN_PATTERN.pattern})$"})
class RxswinField(StrictCharField):
    """An RXSWIN exactly as given: one with spaces around it is refused, never trimmed into
    another. compliance/rxswin.py checks it where it is kept (400 invalid_rxswin, or the
    assessment's problems); the schema states the same pattern."""

    def __init__(self, **kwargs):
        super().__init__(max_length=64, trim_whitespace=False, **kwargs)


class AssessmentSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    model = StrictCharField(max_length=64, help_text="The vehicle type assessed.")
    affects_type_approval = StrictBooleanField()
    rationale = StrictCharField(max_length=rxswin.MAX_RATIONALE)
    new_rxswin = RxswinField(
        required=False,
        default="",
        allow_blank=True,
        help_text="Only when type approval is affected: the RXSWIN after the update.",
    )
    rxswin_before = serializers.CharField(read_only=True)


class MarketApprovalInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    assessments = AssessmentSerializer(many=True, max_length=500)
    note = StrictCharField(required=False, default="", allow_blank=True, max_length=5000)


class MarketApprovalSerializer(serializers.ModelSerializer):
    release = serializers.CharField(source="release.version")
    approved_by = serializers.CharField(source="approved_by.username")
    assessments = AssessmentSerializer(many=True)

    class Meta:
        model = MarketApproval
        fields = ["release", "market", "approved_by", "approved_at", "note", "assessments"]


class CopiesSerializer(serializers.Serializer):
    verified = serializers.IntegerField()
    copying = serializers.IntegerField()
    failed = serializers.IntegerField()
    bundles = serializers.IntegerField(help_text="Bundles of the release.")


class ReleaseMarketSerializer(serializers.Serializer):
    market = serializers.CharField()
    type_approval = serializers.ChoiceField(
        choices=["approved", "awaiting", "not_required"],
        help_text="awaiting: no car of this market is offered the release yet.",
    )
    approval = MarketApprovalSerializer(allow_null=True)
    vehicle_types = serializers.ListField(
        child=serializers.CharField(), help_text="The types an approval must assess."
    )
    current_rxswins = serializers.DictField(child=serializers.CharField())
    storage = serializers.ChoiceField(choices=["home", "own"])
    copies = CopiesSerializer(allow_null=True, help_text="null: served from home storage.")


class RxswinInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    model = StrictCharField(max_length=64)
    market = MarketField(max_length=16)  # an unknown one: 422 unknown_market (rxswin_register)
    rxswin = RxswinField()
    note = StrictCharField(required=False, default="", allow_blank=True, max_length=5000)


class RxswinSerializer(serializers.ModelSerializer):
    release = serializers.CharField(source="release.version", default=None, allow_null=True)
    recorded_by = serializers.CharField(
        source="recorded_by.username", default=None, allow_null=True
    )

    class Meta:
        model = RxswinEntry
        fields = ["model", "market", "rxswin", "release", "recorded_by", "recorded_at", "note"]


def _release(release_id: int) -> Release:
    release = Release.objects.filter(pk=release_id).first()
    if release is None:
        raise ReleaseNotFound(detail={"id": release_id})
    return release


class StorageSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["local", "s3", "azure"])
    account = serializers.CharField(help_text="Azure: the storage account; else empty.")
    location = serializers.CharField(help_text="Bucket or container; local: not a path.")
    endpoint = serializers.CharField(
        help_text="Scheme and host (and port) only: never a path, query or credential."
    )
    own = serializers.BooleanField(help_text="Storage of its own (else the home storage).")


class VehicleTypeSerializer(serializers.Serializer):
    model = serializers.CharField()
    rxswin = serializers.CharField(help_text="The register's newest for this type and market.")


class MarketReleaseSerializer(ReleaseMarketSerializer):
    release = serializers.CharField()


class MarketSerializer(serializers.Serializer):
    market = serializers.CharField()
    storage = StorageSerializer()
    time_zone = serializers.CharField(help_text="Of install windows, for cars without their own.")
    type_approval_required = serializers.BooleanField()
    vehicles = serializers.IntegerField()
    vehicle_types = VehicleTypeSerializer(many=True)
    releases = MarketReleaseSerializer(
        many=True, help_text="The latest approved releases: approval and copies here."
    )


class MarketsApi(APIView):
    required_permissions = ("rollouts.view_release",)

    @extend_schema(operation_id="markets_list", responses=MarketSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(MarketSerializer(markets_overview(), many=True).data)


class ReleaseMarketsApi(APIView):
    required_permissions = ("rollouts.view_release",)

    @extend_schema(
        operation_id="release_markets_list", responses=ReleaseMarketSerializer(many=True)
    )
    def get(self, request: Request, release_id: int) -> Response:
        states = release_market_states(_release(release_id))
        return Response(ReleaseMarketSerializer(states, many=True).data)


class MarketApproveApi(APIView):
    required_permissions = ("compliance.approve_market",)

    @extend_schema(
        operation_id="release_market_approve",
        request=MarketApprovalInputSerializer,
        responses={201: MarketApprovalSerializer},
    )
    def post(self, request: Request, release_id: int, market: str) -> Response:
        data = MarketApprovalInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        approval = market_approve(
            release=_release(release_id),
            market=market,
            assessments=[rxswin.Assessment(**item) for item in data.validated_data["assessments"]],
            actor=request.user,
            note=data.validated_data["note"],
        )
        return Response(MarketApprovalSerializer(approval).data, status=status.HTTP_201_CREATED)


class RxswinRegisterApi(APIView):
    required_permissions = {
        "GET": ("compliance.view_rxswinentry",),
        "POST": ("compliance.add_rxswinentry",),
    }

    @extend_schema(
        operation_id="rxswins_list",
        parameters=[
            OpenApiParameter("market", str, description="Only this market."),
            OpenApiParameter("model", str, description="Only this vehicle type."),
        ],
        responses=RxswinSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        entries = RxswinEntry.objects.select_related("release", "recorded_by")
        for name in ("market", "model"):
            value = request.query_params.get(name)
            if value:
                entries = entries.filter(**{name: value[:64]})
        return Response(RxswinSerializer(entries[:1000], many=True).data)

    @extend_schema(
        operation_id="rxswins_register",
        request=RxswinInputSerializer,
        responses={201: RxswinSerializer},
    )
    def post(self, request: Request) -> Response:
        data = RxswinInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = rxswin_register(
            model=data.validated_data["model"],
            market=data.validated_data["market"],
            value=data.validated_data["rxswin"],
            actor=request.user,
            note=data.validated_data["note"],
        )
        return Response(RxswinSerializer(entry).data, status=status.HTTP_201_CREATED)


# --- evidence exports and the published key ----------------------------------------------------


class ExportNotFound(NotFound):
    code = "export_not_found"
    message = "No evidence export has this id."


class ExportNotReady(NotFound):
    code = "export_not_ready"
    message = "The export is not built yet (or failed): see its status."


class KeyNotFound(NotFound):
    code = "key_not_found"
    message = "No export key has this id."


class ExportInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    scope = serializers.ChoiceField(choices=ExportScope.choices)
    format = serializers.ChoiceField(choices=ExportFormat.choices, default=ExportFormat.JSON)
    vin = VinField(
        required=False,
        default="",
        help_text="Upper-cased and stripped, as everywhere a VIN is looked up.",
    )
    release = serializers.IntegerField(min_value=1, max_value=MAX_BIGINT, required=False)
    market = StrictCharField(max_length=16, required=False, default="", trim_whitespace=False)

    def openapi_schema(self) -> dict:
        """What each scope names, as evidence_export_request checks it. That a market's
        period starts before it ends no schema can say."""
        needs = {
            ExportScope.VIN: ["vin"],
            ExportScope.RELEASE: ["release"],
            ExportScope.MARKET: ["market", "from", "to"],
        }
        # The scope by a pattern, not a one-value enum: drf-spectacular's enum post-processing
        # would give the three one-value enums of `scope` one name, and one of them.
        return {
            "anyOf": [
                {"properties": {"scope": {"pattern": f"^{scope.value}$"}}, "required": names}
                for scope, names in needs.items()
            ]
        }

    def get_fields(self):
        fields = super().get_fields()
        # A market's period [from, to); "from" is a Python keyword, so declared here.
        fields["from"] = serializers.DateTimeField(required=False, default=None)
        fields["to"] = serializers.DateTimeField(required=False, default=None)
        return fields


class ExportSerializer(serializers.ModelSerializer):
    release = serializers.CharField(source="release.version", default=None, allow_null=True)
    requested_by = serializers.CharField(source="requested_by.username")
    key_id = serializers.CharField(source="key.keyid", default=None, allow_null=True)
    links = serializers.SerializerMethodField()
    verify = serializers.SerializerMethodField(
        help_text="The commands that verify the three files with the published key."
    )

    class Meta:
        model = EvidenceExport
        fields = [
            "id",
            "scope",
            "vin",
            "release",
            "market",
            "period_from",
            "period_to",
            "format",
            "status",
            "rows",
            "expected_rows",
            "file_name",
            "sha256",
            "key_id",
            "requested_by",
            "requested_at",
            "finished_at",
            "failure",
            "links",
            "verify",
        ]

    def get_links(self, export: EvidenceExport) -> dict[str, str]:
        base = f"/api/v1/manage/evidence/exports/{export.pk}"
        links = {"self": base}
        if export.status == ExportStatus.READY:
            links.update(
                file=f"{base}/file",
                sha256=f"{base}/sha256",
                signature=f"{base}/signature",
                key=f"/api/v1/export-keys/{export.key.keyid}.pem",
            )
        return links

    def get_verify(self, export: EvidenceExport) -> str | None:
        if export.status != ExportStatus.READY:
            return None
        return verify_command(export.key, export.file_name)


def _export(export_id: int) -> EvidenceExport:
    export = (
        EvidenceExport.objects.select_related("release", "requested_by", "key")
        .filter(pk=export_id)
        .first()
    )
    if export is None:
        raise ExportNotFound(detail={"id": export_id})
    return export


class ExportCollectionApi(APIView):
    required_permissions = {
        "GET": ("compliance.view_evidenceexport",),
        "POST": ("compliance.add_evidenceexport",),
    }

    @extend_schema(operation_id="evidence_exports_list", responses=ExportSerializer(many=True))
    def get(self, request: Request) -> Response:
        exports = EvidenceExport.objects.select_related("release", "requested_by", "key")[:200]
        return Response(ExportSerializer(exports, many=True).data)

    @extend_schema(
        operation_id="evidence_exports_create",
        request=ExportInputSerializer,
        responses={202: ExportSerializer},
        description="Queue a signed export of the evidence records of one VIN, one release, "
        "or one market over a period [from, to). Poll the export until it is ready.",
    )
    def post(self, request: Request) -> Response:
        data = ExportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        export = evidence_export_request(
            scope=given["scope"],
            format=given["format"],
            actor=request.user,
            vin=given["vin"],
            release_id=given.get("release"),
            market=given["market"],
            period_from=given["from"],
            period_to=given["to"],
        )
        return Response(ExportSerializer(_export(export.pk)).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    required_permissions = ("compliance.view_evidenceexport",)

    @extend_schema(operation_id="evidence_exports_get", responses=ExportSerializer)
    def get(self, request: Request, export_id: int) -> Response:
        return Response(ExportSerializer(_export(export_id)).data)


EXPORT_MEDIA_TYPES = {ExportFormat.JSON: "application/json", ExportFormat.CSV: "text/csv"}
EXPORT_FILE = (
    "The export, an attachment in the format it was asked in: JSON (`export`, what was "
    "asked; `records`; `approvals`) or CSV (a header line, then one record a line)."
)


class ExportFileApi(APIView):
    """The export itself."""

    required_permissions = ("compliance.view_evidenceexport",)
    # The file whatever Accept says (DRF would answer `Accept: text/csv` with 406: no
    # renderer of its own makes CSV); a refusal in the one JSON error format.
    content_negotiation_class = JsonOnlyNegotiation

    def ready(self, export_id: int) -> EvidenceExport:
        export = _export(export_id)
        if export.status != ExportStatus.READY:
            raise ExportNotReady(detail={"status": export.status})
        return export

    @extend_schema(
        operation_id="evidence_exports_file",
        # What the server sends: the export's own format (an attachment either way).
        responses={
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, EXPORT_FILE),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, EXPORT_FILE),
        },
    )
    def get(self, request: Request, export_id: int) -> HttpResponse:
        export = self.ready(export_id)
        kind = EXPORT_MEDIA_TYPES[export.format]
        return FileResponse(
            exports_storage().open(export.file_name, "rb"),
            as_attachment=True,
            filename=export.file_name,
            content_type=kind,
        )


class ExportDigestApi(ExportFileApi):
    """The export's SHA-256 line, in `sha256sum` form."""

    @extend_schema(
        operation_id="evidence_exports_sha256",
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    def get(self, request: Request, export_id: int) -> HttpResponse:
        export = self.ready(export_id)
        return _attachment(digest_line(export), f"{export.file_name}.sha256", "text/plain")


class ExportSignatureApi(ExportFileApi):
    """The export key's signature of the SHA-256 line."""

    @extend_schema(
        operation_id="evidence_exports_signature",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, export_id: int) -> HttpResponse:
        export = self.ready(export_id)
        name = f"{export.file_name}.sha256.sig"
        return _attachment(bytes(export.signature), name, "application/octet-stream")


def _attachment(data: bytes, name: str, kind: str) -> HttpResponse:
    response = HttpResponse(data, content_type=kind)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class ExportKeySerializer(serializers.ModelSerializer):
    keytype = serializers.CharField(source="public_key.keytype")
    scheme = serializers.CharField(source="public_key.scheme")
    pem = serializers.SerializerMethodField()

    class Meta:
        model = ExportKey
        fields = ["purpose", "keyid", "keytype", "scheme", "pem", "created_at", "retired_at"]

    def get_pem(self, key: ExportKey) -> str:
        return public_key_pem(key)


class ExportKeysApi(APIView):
    """Published: anyone may verify an export. Retired keys stay, for older exports."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="export_keys_list", responses=ExportKeySerializer(many=True))
    def get(self, request: Request) -> Response:
        for purpose in KeyPurpose.values:  # published before the first export is asked for
            export_key_active(purpose)
        return Response(ExportKeySerializer(ExportKey.objects.all(), many=True).data)


class ExportKeyPemApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="export_keys_pem", responses={(200, "text/plain"): OpenApiTypes.STR}
    )
    def get(self, request: Request, keyid: str) -> HttpResponse:
        key = ExportKey.objects.filter(keyid=keyid[:64]).first()
        if key is None:
            raise KeyNotFound(detail={"keyid": keyid[:64]})
        return HttpResponse(public_key_pem(key), content_type="text/plain; charset=utf-8")


class VehicleNotFound(NotFound):
    code = "vehicle_not_found"
    message = "No vehicle has this VIN."


class VehicleRxswinSerializer(serializers.Serializer):
    vin = serializers.CharField()
    model = serializers.CharField()
    market = serializers.CharField()
    rxswin = serializers.CharField(help_text="Empty: its type has no RXSWIN registered.")
    since = serializers.DateTimeField(allow_null=True, help_text="null: as type-approved.")
    release = serializers.CharField(allow_null=True, help_text="The update that set it.")


class VehicleRxswinApi(APIView):
    required_permissions = ("compliance.view_vehiclerxswin",)

    @extend_schema(operation_id="vehicle_rxswin_get", responses=VehicleRxswinSerializer)
    def get(self, request: Request, vin: str) -> Response:
        vehicle = Vehicle.objects.filter(vin=vin[:17]).first()
        if vehicle is None:
            raise VehicleNotFound(detail={"vin": vin})
        return Response(VehicleRxswinSerializer(vehicle_rxswin(vehicle)).data)
