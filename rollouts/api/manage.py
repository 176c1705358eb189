"""Management API for the fleet: provisioning, lookup and token control."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ota.api import paginated
from ota.errors import NotFound
from ota.serializers import RejectUnknownFieldsMixin, StrictCharField
from rollouts import selectors
from rollouts.api.consent import ConsentSerializer
from rollouts.api.serializers import (
    BulkVehicleInputSerializer,
    ProvisionedVehicleOutputSerializer,
    VehicleInputSerializer,
    VehicleOutputSerializer,
    provisioned_output,
)
from rollouts.models import ChangeVia, Vehicle
from rollouts.services.channels import vehicle_channel_set
from rollouts.services.vehicles import (
    vehicle_provision,
    vehicle_token_revoke,
    vehicle_token_rotate,
    vehicles_provision_bulk,
)


class VehicleNotFound(NotFound):
    code = "vehicle_not_found"
    message = "No vehicle has this VIN."


def _vehicle_or_404(vin: str) -> Vehicle:
    vehicle = selectors.vehicle_get(vin=vin)
    if vehicle is None:
        raise VehicleNotFound(detail={"vin": vin})
    return vehicle


class VehiclePagination(CursorPagination):
    # Cursor pages need no COUNT(*), which matters at millions of vehicles.
    ordering = "vin"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request) -> int:
        """A page size that is not a whole number from 1 to the maximum is refused (DRF's
        own pagination would quietly use the default)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({"page_size": f"A whole number from 1 to {self.max_page_size}."})
        return int(raw)

    @classmethod
    def schema_parameters(cls) -> list[OpenApiParameter]:
        """The query parameters, with the bounds `get_page_size` holds them to."""
        page_size = {"type": "integer", "minimum": 1, "maximum": cls.max_page_size}
        return [
            OpenApiParameter("cursor", str, description="from `next` or `previous`"),
            OpenApiParameter(
                cls.page_size_query_param,
                page_size,
                description=f"items per page (default {cls.page_size})",
            ),
        ]


class VehicleCollectionApi(APIView):
    required_permissions = {"GET": ("rollouts.view_vehicle",), "POST": ("rollouts.add_vehicle",)}

    @extend_schema(
        operation_id="vehicles_list",
        parameters=[
            OpenApiParameter("region", str),
            OpenApiParameter("model", str),
            OpenApiParameter("channel", str),
            *VehiclePagination.schema_parameters(),
        ],
        responses=paginated("VehiclePage", VehicleOutputSerializer()),
    )
    def get(self, request: Request) -> Response:
        vehicles = selectors.vehicle_list(
            region=request.query_params.get("region"),
            model=request.query_params.get("model"),
            channel=request.query_params.get("channel"),
        )
        paginator = VehiclePagination()
        page = paginator.paginate_queryset(vehicles, request, view=self)
        return paginator.get_paginated_response(VehicleOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="vehicles_provision",
        request=VehicleInputSerializer,
        responses={201: ProvisionedVehicleOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = VehicleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        provisioned = vehicle_provision(
            spec=VehicleInputSerializer.to_spec(serializer.validated_data), actor=request.user
        )
        return Response(provisioned_output(provisioned), status=status.HTTP_201_CREATED)


class VehicleBulkProvisionApi(APIView):
    required_permissions = ("rollouts.add_vehicle",)
    max_body_bytes = 16 * 1024 * 1024  # 1,000 vehicles with several ECUs and PEM keys

    @extend_schema(
        operation_id="vehicles_provision_bulk",
        request=BulkVehicleInputSerializer,
        responses={
            201: inline_serializer(
                "BulkProvisioned", {"vehicles": ProvisionedVehicleOutputSerializer(many=True)}
            )
        },
        description=f"Up to {settings.OTA_BULK_PROVISION_MAX} vehicles, all or nothing.",
    )
    def post(self, request: Request) -> Response:
        serializer = BulkVehicleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        specs = [VehicleInputSerializer.to_spec(v) for v in serializer.validated_data["vehicles"]]
        provisioned = vehicles_provision_bulk(specs=specs, actor=request.user)
        return Response(
            {"vehicles": [provisioned_output(p) for p in provisioned]},
            status=status.HTTP_201_CREATED,
        )


class VehicleDetailApi(APIView):
    required_permissions = ("rollouts.view_vehicle",)

    @extend_schema(operation_id="vehicles_get", responses=VehicleOutputSerializer)
    def get(self, request: Request, vin: str) -> Response:
        return Response(VehicleOutputSerializer(_vehicle_or_404(vin)).data)


class ReasonInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    reason = StrictCharField(max_length=1000, required=False, allow_blank=True, default="")


class VehicleTokenRevokeApi(APIView):
    required_permissions = ("rollouts.change_vehicletoken",)

    @extend_schema(
        operation_id="vehicles_token_revoke",
        request=ReasonInputSerializer,
        responses=inline_serializer("TokenRevoked", {"revoked": serializers.BooleanField()}),
    )
    def post(self, request: Request, vin: str) -> Response:
        serializer = ReasonInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        revoked = vehicle_token_revoke(
            vehicle=_vehicle_or_404(vin),
            actor=request.user,
            reason=serializer.validated_data["reason"],
        )
        return Response({"revoked": revoked})


class VehicleTokenRotateApi(APIView):
    required_permissions = ("rollouts.change_vehicletoken",)

    @extend_schema(
        operation_id="vehicles_token_rotate",
        request=ReasonInputSerializer,
        responses=inline_serializer("TokenRotated", {"token": serializers.CharField()}),
    )
    def post(self, request: Request, vin: str) -> Response:
        serializer = ReasonInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = vehicle_token_rotate(
            vehicle=_vehicle_or_404(vin),
            actor=request.user,
            reason=serializer.validated_data["reason"],
        )
        return Response({"token": token})


class ManageChannelInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    channel = StrictCharField(max_length=40)
    consent = ConsentSerializer(required=False)


class VehicleChannelManageApi(APIView):
    """A companion-app backend or an operator moves a vehicle to a channel."""

    required_permissions = ("rollouts.change_vehicle",)

    @extend_schema(
        operation_id="vehicles_set_channel",
        request=ManageChannelInputSerializer,
        responses=VehicleOutputSerializer,
    )
    def put(self, request: Request, vin: str) -> Response:
        data = ManageChannelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consent = data.validated_data.get("consent") or {}
        vehicle_channel_set(
            vehicle=_vehicle_or_404(vin),
            channel_name=data.validated_data["channel"],
            via=ChangeVia.API,
            actor=request.user,
            consent_by=consent.get("by") or request.user.get_username(),
            terms_version=consent.get("terms_version", ""),
        )
        return Response(VehicleOutputSerializer(_vehicle_or_404(vin)).data)
