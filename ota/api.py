"""The one error format, body limits and permission checks shared by every API view.

Every error body is `{"error": {"code": ..., "message": ..., "detail": {...}}}`.
"""

import json
from typing import Any

from django.conf import settings
from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from ota import errors
from ota.text import BadText, find_bad_text, may_hold_bad_text

DOMAIN_STATUS: dict[type[errors.DomainError], int] = {
    errors.Malformed: status.HTTP_400_BAD_REQUEST,
    errors.Forbidden: status.HTTP_403_FORBIDDEN,
    errors.NotFound: status.HTTP_404_NOT_FOUND,
    errors.Conflict: status.HTTP_409_CONFLICT,
    errors.Unprocessable: status.HTTP_422_UNPROCESSABLE_ENTITY,
    errors.Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}

# DRF's own codes, renamed where the protocol names them differently.
DRF_CODES = {
    "parse_error": "malformed_request",
    "invalid": "invalid_request",
    "authentication_failed": "invalid_token",
}

STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail or {}}}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"

    def __init__(self, limit: int):
        super().__init__(f"The request body is larger than {limit} bytes.")
        self.error_detail = {"limit_bytes": limit}


class BadTextInBody(exceptions.ParseError):
    """NUL or a lone surrogate somewhere in a JSON body: the answer says where, as a JSON
    Pointer, and whether in a key or in the value there."""

    def __init__(self, found: BadText):
        super().__init__(found.problem)
        self.error_detail = {"pointer": found.pointer(), "in": "key" if found.in_key else "value"}


class DomainAPIError(exceptions.APIException):
    """Carries a DomainError through DRF's handler with its own code and detail."""

    def __init__(self, error: errors.DomainError):
        self.status_code = _domain_status(error)
        self.error = error
        super().__init__(error.message, code=error.code)


def _domain_status(error: errors.DomainError) -> int:
    for kind, http_status in DOMAIN_STATUS.items():
        if isinstance(error, kind):
            return http_status
    return status.HTTP_400_BAD_REQUEST


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, errors.DomainError):
        exc = DomainAPIError(exc)
    # Imported here: DRF loads this module while rest_framework.views is still importing.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not ours: ApiErrorMiddleware logs it and answers a JSON 500

    if isinstance(exc, DomainAPIError):
        body = error_body(exc.error.code, exc.error.message, exc.error.detail)
    elif isinstance(exc, exceptions.ValidationError):
        body = error_body(
            "invalid_request", "The request is invalid; see detail for each field.", exc.detail
        )
    else:
        code = getattr(exc, "default_code", None) or STATUS_CODES.get(response.status_code, "error")
        if isinstance(exc, exceptions.APIException) and isinstance(exc.detail, str):
            code = getattr(exc.detail, "code", None) or code
        detail = getattr(exc, "error_detail", {})
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            detail = {"retry_after_seconds": int(exc.wait)}
        message = str(exc.detail) if isinstance(exc, exceptions.APIException) else str(exc)
        body = error_body(DRF_CODES.get(code, code), message, detail)
    response.data = body
    if isinstance(exc, DomainAPIError) and isinstance(exc.error, errors.Unavailable):
        response["Retry-After"] = str(exc.error.retry_after_seconds)
    return response


def plain_error_response(exc: exceptions.APIException, *, authenticate_header: str = ""):
    """What a DRF view answers `exc` with, for a plain Django view: `exception_handler`'s
    body and Retry-After, and, as APIView adds to a 401, `WWW-Authenticate`."""
    response = exception_handler(exc, {})
    answer = JsonResponse(response.data, status=response.status_code)
    if "Retry-After" in response:
        answer["Retry-After"] = response["Retry-After"]
    if authenticate_header and answer.status_code == 401:
        answer["WWW-Authenticate"] = authenticate_header
    return answer


def unavailable_response(error: errors.Unavailable):
    """The 503 of a view outside DRF, in the same format and with Retry-After."""
    response = JsonResponse(error_body(error.code, error.message, error.detail), status=503)
    response["Retry-After"] = str(error.retry_after_seconds)
    return response


def authorization_credentials(request, keyword: str, *, invalid: str) -> str | None:
    """The credentials of `Authorization: <keyword> <credentials>` (ASCII), None when the
    header names another scheme; a malformed header is refused with `invalid`."""
    # From META, as WSGI gives it (ISO-8859-1): `request.headers` (DRF's way) builds a dict of
    # every header, on every poll.
    try:
        parts = request.META.get("HTTP_AUTHORIZATION", "").encode("iso-8859-1").split()
    except UnicodeEncodeError:  # only a test client can send what WSGI cannot
        raise exceptions.AuthenticationFailed(invalid) from None
    if not parts or parts[0].lower() != keyword.lower().encode():
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(
            f"The Authorization header must be '{keyword} <token>'."
        )
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed(invalid) from None


class JsonOnlyNegotiation(DefaultContentNegotiation):
    """The vehicle API answers JSON whatever `Accept` says (metadata is JSON too): no header
    to parse on every poll."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def body_limit(view: Any) -> int:
    return getattr(view, "max_body_bytes", None) or settings.OTA_MAX_JSON_BODY_BYTES


class LimitedJSONParser(JSONParser):
    """JSON only, size-limited before it is read, strict about non-standard constants."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = body_limit(parser_context.get("view"))
        request = parser_context.get("request")
        declared = _content_length(request.META if request is not None else {})
        if declared > limit:
            raise PayloadTooLarge(limit)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(limit)
        try:
            text = raw.decode("utf-8")
            data = json.loads(text, parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise exceptions.ParseError("The body is not UTF-8.") from None
        except (ValueError, RecursionError) as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}") from None
        if may_hold_bad_text(text) and (found := find_bad_text(data)):
            raise BadTextInBody(found)  # the same answer on SQLite and PostgreSQL
        parser_context["body_text"] = text  # the body exactly as sent, for views that keep it
        return data


def _content_length(meta: dict[str, Any]) -> int:
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in JSON")


class HasRequiredPermissions(BasePermission):
    """Authenticated, and holding every Django permission in the view's `required_permissions`.

    A view may give a dict by HTTP method instead of a tuple.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        required = getattr(view, "required_permissions", ())
        if isinstance(required, dict):
            method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
            if method not in required:
                # No handler: the view answers 405. A handler left out of the table: refused.
                return not hasattr(view, method.lower())
            required = required[method]
        return user.has_perms(required)


def paginated(name: str, item: Any):
    """The schema of a cursor-paginated list of `item` (a serializer instance for one item)."""
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    return inline_serializer(
        name,
        {
            "next": serializers.URLField(allow_null=True, help_text="the next page, if any"),
            "previous": serializers.URLField(allow_null=True),
            "results": serializers.ListField(child=item),
        },
    )
