"""Vehicle protocol v1: endpoints a vehicle calls with its bearer token."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rollouts.api.auth import IsPathVehicle, VehicleTokenAuthentication
from rollouts.api.serializers import VehicleOutputSerializer


class VehicleApiView(APIView):
    """Base for every vehicle endpoint: bearer token, bound to the VIN in the path."""

    authentication_classes = [VehicleTokenAuthentication]
    permission_classes = [IsPathVehicle]


class VehicleSelfOutputSerializer(VehicleOutputSerializer):
    class Meta(VehicleOutputSerializer.Meta):
        fields = ["vin", "model", "region", "channel", "ecus"]


class VehicleSelfApi(VehicleApiView):
    """What the server knows of this vehicle: a check of provisioning and token."""

    @extend_schema(operation_id="vehicle_self", responses=VehicleSelfOutputSerializer)
    def get(self, request: Request, vin: str) -> Response:
        vehicle = request.auth
        return Response(VehicleSelfOutputSerializer(vehicle).data)
