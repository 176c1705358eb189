"""TUF URLs: metadata served as the exact stored bytes, and bundle bytes (Range) or a redirect."""

import hashlib
import re

from django.conf import settings
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from rest_framework.exceptions import AuthenticationFailed

from ota.api import error_body
from signing import selectors, storage
from signing.metadata_cache import LeasedMetadata, lease_seconds
from signing.models import Repo
from signing.models import Role as RoleName
from signing.ranges import Unsatisfiable, parse_range

_METADATA = re.compile(
    r"^(?:(?P<version>[1-9][0-9]{0,9})\.)?(?P<role>root|targets|snapshot|timestamp)\.json$"
)
ONE_YEAR = 31536000
IMMUTABLE = f"public, max-age={ONE_YEAR}, immutable"
STREAM_CHUNK = 256 * 1024


def not_found(message: str = "No such metadata.") -> JsonResponse:
    return JsonResponse(error_body("not_found", message), status=404)


IMAGE_TIMESTAMP = LeasedMetadata(lambda: selectors.newest_metadata(Repo.IMAGE, RoleName.TIMESTAMP))


@csrf_exempt  # no cookie session here: a PUT is 405, not CSRF's 403
@require_safe
def image_metadata(request: HttpRequest, filename: str) -> HttpResponse:
    if filename == "timestamp.json":
        copy = IMAGE_TIMESTAMP.get(lease_seconds())
        if copy is None:
            return not_found()
        return metadata_bytes_response(request, copy.raw, etag=copy.etag)
    return metadata_response(request, Repo.IMAGE, filename)


def metadata_response(
    request: HttpRequest, repo: str, filename: str, scope: str = ""
) -> HttpResponse:
    """The stored bytes with an ETag and caching headers, or `304` to a matching
    `If-None-Match`. A per-vehicle caller checks the vehicle's token before calling this."""
    match = _METADATA.match(filename)
    if not match:
        return not_found()
    role, version = match["role"], match["version"]
    if role == "timestamp" and version:
        return not_found("timestamp.json is never versioned.")
    raw = selectors.metadata_bytes(repo, role, scope, version=int(version) if version else None)
    if raw is None:
        return not_found()
    return metadata_bytes_response(request, raw, versioned=bool(version), per_vehicle=bool(scope))


def metadata_bytes_response(
    request: HttpRequest,
    raw: bytes,
    *,
    versioned: bool = False,
    per_vehicle: bool = False,
    etag: str = "",
) -> HttpResponse:
    response = HttpResponse(raw, content_type="application/json")
    # The ETag is the SHA-256 of the exact bytes, not repo/scope/role/version: a strong ETag
    # must change whenever the bytes do, and only the hash makes that true by construction (a
    # repository initialised afresh starts again at version 1 under other keys; a row restored
    # or repaired by hand keeps its version). Hashing a metadata file costs microseconds, and
    # it needs no second query. A snapshot's ETag is the hash its timestamp lists.
    response["ETag"] = etag or f'"{hashlib.sha256(raw).hexdigest()}"'
    patch_cache_control(response, **cache_policy(versioned=versioned, per_vehicle=per_vehicle))
    # Django's `condition` decorator would compute the ETag before the view (a second query)
    # and give its 304 no Cache-Control; on the finished response, the helper does both.
    return get_conditional_response(request, etag=response["ETag"], response=response)


def cache_policy(*, versioned: bool, per_vehicle: bool) -> dict[str, bool | int]:
    """`patch_cache_control` arguments for a metadata file.

    A vehicle's own Director files are `private`: a shared cache must never answer one car
    with another's. The shared root and all Image metadata are `public`.

    A version is immutable. The newest file (`timestamp.json`, or an unversioned name) is
    `no-cache`: every use revalidates against us, which a 304 makes cheap. A max-age would
    let two shared caches hold different timestamps, so a car whose requests land on both
    could be served an older one after a newer (ngclient refuses it as a rollback), and would
    hide for that long the Director targets signed in answer to the car's own manifest.
    """
    audience = {"private": True} if per_vehicle else {"public": True}
    if versioned:
        return {**audience, "max_age": ONE_YEAR, "immutable": True}
    return {**audience, "no_cache": True}


@csrf_exempt  # no cookie session here: a PUT is 405, not CSRF's 403
@require_safe
def image_target(request: HttpRequest, target: str) -> HttpResponse:
    try:
        vehicle = _vehicle(request)
    except AuthenticationFailed as exc:
        return JsonResponse(error_body("invalid_token", str(exc.detail)), status=401)
    if vehicle is None and settings.OTA_TARGETS_REQUIRE_TOKEN:
        return JsonResponse(
            error_body("not_authenticated", "A vehicle token is required to download bundles."),
            status=401,
        )
    bundle = selectors.published_bundle_for_target(target)
    if bundle is None:
        return not_found("No published bundle has this target path.")

    region = getattr(vehicle, "region", None)
    if region in storage.replica_regions():
        # A market with storage of its own: there, or nowhere (never another market's).
        if region not in bundle.regions:
            return not_found("This bundle has no verified copy in your market's storage yet.")
        store = storage.bundle_storage(region)
    else:
        store = storage.bundle_storage()
    if not storage.is_local(store):
        # The bucket serves the bytes (and Range) itself; the URL is short-lived.
        return HttpResponseRedirect(store.url(bundle.blob_name))
    return _stream(request, store, bundle)


def _vehicle(request: HttpRequest):
    if not request.META.get("HTTP_AUTHORIZATION"):
        return None
    authenticator = import_string(settings.OTA_VEHICLE_AUTHENTICATION)()
    result = authenticator.authenticate(request)
    return result[1] if result else None


def _stream(request: HttpRequest, store, bundle) -> HttpResponse:
    length = bundle.length
    etag = f'"{bundle.sha256}"'
    range_header = request.META.get("HTTP_RANGE")
    if_range = request.META.get("HTTP_IF_RANGE")
    if if_range and if_range != etag:
        range_header = None  # the client holds other bytes: start over
    try:
        byte_range = parse_range(range_header, length)
    except Unsatisfiable:
        response = JsonResponse(
            error_body("range_not_satisfiable", f"The bundle is {length} bytes long."), status=416
        )
        response["Content-Range"] = f"bytes */{length}"
        return response

    first, last = byte_range or (0, length - 1)
    with storage.reachable():
        handle = store.open(bundle.blob_name, "rb")
        handle.seek(first)
    response = StreamingHttpResponse(
        _read(handle, last - first + 1),
        content_type="application/octet-stream",
        status=206 if byte_range else 200,
    )
    response["Content-Length"] = str(last - first + 1)
    if byte_range:
        response["Content-Range"] = f"bytes {first}-{last}/{length}"
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Cache-Control"] = IMMUTABLE
    return response


def _read(handle, remaining: int):
    try:
        while remaining > 0:
            block = handle.read(min(STREAM_CHUNK, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block
    finally:
        handle.close()
