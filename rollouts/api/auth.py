"""Vehicle authentication: `Authorization: Bearer <token>` binds a request to one vehicle."""

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from ota.api import authorization_credentials, plain_error_response
from ota.cache_counters import count_one
from rollouts.models import Vehicle
from rollouts.selectors import vehicle_for_metadata_token, vehicle_for_token
from rollouts.services.vehicles import vehicle_touch


@dataclass(frozen=True)
class VehiclePrincipal:
    """What `request.user` is on vehicle endpoints: the vehicle, not a person."""

    vehicle: Vehicle
    is_authenticated: bool = True
    is_staff: bool = False

    def __str__(self) -> str:
        return f"vehicle:{self.vehicle.vin}"


REFUSED = "Unknown or revoked token."
AUTHENTICATE_HEADER = 'Bearer realm="vehicles"'


def bearer_vehicle(request, read: Callable[[str], Vehicle | None]) -> Vehicle | None:
    """The vehicle of the request's `Authorization: Bearer` token, read by `read`; None
    without one; AuthenticationFailed for a malformed, unknown or revoked token."""
    token = authorization_credentials(request, "Bearer", invalid=REFUSED)
    if token is None:
        return None
    vehicle = read(token)
    if vehicle is None:
        raise exceptions.AuthenticationFailed(REFUSED)
    return vehicle


class VehicleTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        view = (getattr(request, "parser_context", None) or {}).get("view")
        with_ecus = getattr(view, "reads_ecus", False)
        vehicle = bearer_vehicle(
            request, lambda token: vehicle_for_token(token=token, with_ecus=with_ecus)
        )
        if vehicle is None:
            return None
        if not getattr(view, "writes_last_seen", False):
            vehicle_touch(vehicle=vehicle)
        return VehiclePrincipal(vehicle), vehicle

    def authenticate_header(self, request) -> str:
        return AUTHENTICATE_HEADER


class IsPathVehicle(BasePermission):
    """The token's vehicle is the one named in the path: vehicle A never touches vehicle B."""

    message = "This token does not belong to the vehicle in the path."
    code = "vin_mismatch"

    def has_permission(self, request, view) -> bool:
        vehicle = request.auth
        return isinstance(vehicle, Vehicle) and vehicle.vin == view.kwargs.get("vin")


def vehicle_metadata_endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A plain Django view for a vehicle's Director metadata, with what VehicleApiView gives
    a DRF view, in the same order and error format: the token (read narrowly), last seen,
    the VIN in the path, the rate. Every car fetches its timestamp on every poll, and DRF's
    request wrapping cost a third of that answer (bench/poll.py). The view is called with
    the vehicle."""

    @functools.wraps(view)
    def endpoint(request: HttpRequest, vin: str, **kwargs) -> HttpResponse:
        try:
            vehicle = bearer_vehicle(request, lambda t: vehicle_for_metadata_token(token=t))
            if vehicle is None:
                raise exceptions.NotAuthenticated()
            vehicle_touch(vehicle=vehicle)
            if vehicle.vin != vin:
                raise exceptions.PermissionDenied(IsPathVehicle.message, IsPathVehicle.code)
            wait = vehicle_rate_wait(vehicle)
            if wait is not None:
                raise exceptions.Throttled(wait)
        except exceptions.APIException as exc:
            return plain_error_response(exc, authenticate_header=AUTHENTICATE_HEADER)
        return view(request, vehicle, **kwargs)

    return endpoint


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

    def allow_request(self, request, view) -> bool:
        vehicle = request.auth
        self.wait_seconds = vehicle_rate_wait(vehicle) if vehicle is not None else None
        return self.wait_seconds is None

    def wait(self) -> float | None:
        return self.wait_seconds


def vehicle_rate_wait(vehicle: Vehicle) -> float | None:
    """None if the vehicle is within OTA_VEHICLE_RATE, else the seconds until its next window."""
    requests, duration = _rate(settings.OTA_VEHICLE_RATE)
    now = time.time()
    window = int(now // duration)
    key = f"throttle:vehicle:{vehicle.pk}:{window}"
    if count_one(cache, key, timeout=duration * 2) <= requests:
        return None
    return (window + 1) * duration - now


@functools.cache
def _rate(setting: str) -> tuple[int, int]:
    """`"120/min"` → (120, 60): DRF's own reading of a rate (it uses nothing of `self`)."""
    return SimpleRateThrottle.parse_rate(None, setting)
