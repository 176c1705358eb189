"""Vehicle authentication: `Authorization: Bearer <token>` binds a request to one vehicle."""

from dataclasses import dataclass

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from ota.api import authorization_credentials
from ota.cache_counters import count_one
from rollouts.models import Vehicle
from rollouts.selectors import vehicle_for_token
from rollouts.services.vehicles import vehicle_touch


@dataclass(frozen=True)
class VehiclePrincipal:
    """What `request.user` is on vehicle endpoints: the vehicle, not a person."""

    vehicle: Vehicle
    is_authenticated: bool = True
    is_staff: bool = False

    def __str__(self) -> str:
        return f"vehicle:{self.vehicle.vin}"


class VehicleTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        token = authorization_credentials(request, "Bearer", invalid="Unknown or revoked token.")
        if token is None:
            return None
        view = (getattr(request, "parser_context", None) or {}).get("view")
        vehicle = vehicle_for_token(token=token, with_ecus=getattr(view, "reads_ecus", False))
        if vehicle is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked token.")
        if not getattr(view, "writes_last_seen", False):
            vehicle_touch(vehicle=vehicle)
        return VehiclePrincipal(vehicle), vehicle

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="vehicles"'


class IsPathVehicle(BasePermission):
    """The token's vehicle is the one named in the path: vehicle A never touches vehicle B."""

    message = "This token does not belong to the vehicle in the path."
    code = "vin_mismatch"

    def has_permission(self, request, view) -> bool:
        vehicle = request.auth
        return isinstance(vehicle, Vehicle) and vehicle.vin == view.kwargs.get("vin")


class VehicleTokenScheme(OpenApiAuthenticationExtension):
    target_class = "rollouts.api.auth.VehicleTokenAuthentication"
    name = "vehicleToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Vehicle token (vt_…)."}


class VehicleRateThrottle(SimpleRateThrottle):
    """Per vehicle, across the vehicle API: a car stuck in a loop gets 429 and Retry-After.

    A counter per fixed window, one cache round trip a request (DRF's sliding log reads and
    writes the list of every recent request's time). A car may get up to twice the rate
    across a window's edge, which is all a loop guard needs."""

    scope = "vehicle"

    def get_rate(self) -> str:
        return settings.OTA_VEHICLE_RATE

    def get_cache_key(self, request, view) -> str | None:
        vehicle = request.auth
        return f"throttle:vehicle:{vehicle.pk}" if vehicle is not None else None

    def allow_request(self, request, view) -> bool:
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.get_rate())
        now = self.timer()
        window = int(now // self.duration)
        count = count_one(self.cache, f"{key}:{window}", timeout=self.duration * 2)
        self.wait_seconds = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self) -> float:
        return self.wait_seconds
