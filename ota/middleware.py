"""Keeps every answer under /api/ in the one JSON error format, whatever raised it, and
refuses a URL that holds text no column can keep."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from ota.api import STATUS_CODES, error_body, unavailable_response
from ota.errors import Unavailable
from ota.text import bad_string

logger = logging.getLogger("ota.api")

API_PREFIXES = ("/api/v1/",)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not _is_api(request) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        # Django's own 404/405/400 pages are HTML; a vehicle must never parse HTML.
        code = STATUS_CODES.get(response.status_code, "error")
        message = response.reason_phrase or "Error"
        replacement = JsonResponse(error_body(code, message), status=response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _is_api(request):
            return None
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(
                error_body("payload_too_large", "The request body is too large."), status=413
            )
        if isinstance(exception, Unavailable):  # raised by a view outside DRF
            logger.warning(
                "%s on %s %s: %s", exception.code, request.method, request.path, exception.detail
            )
            return unavailable_response(exception)
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return JsonResponse(
            error_body("server_error", "An internal error occurred; it has been logged."),
            status=500,
        )


class BadTextInUrlMiddleware:
    """The URL's share of ota/text.py's rule (the JSON parser refuses NUL in a body): NUL in
    an API request's path or query is refused before a view compares it with a column, which
    PostgreSQL fails (a 500) where SQLite answers. Django decodes neither into a lone
    surrogate. A look at the raw query first: the busy paths carry none."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _is_api(request) and (where := _bad_text_in_url(request)):
            message = "URLs may not contain NUL characters."
            return JsonResponse(error_body("malformed_request", message, where), status=400)
        return self.get_response(request)


def _bad_text_in_url(request: HttpRequest) -> dict[str, str]:
    if bad_string(request.path):
        return {"in": "path"}
    query = request.META.get("QUERY_STRING", "")
    if "%00" not in query and "\x00" not in query:
        return {}
    for name, values in request.GET.lists():
        if any(bad_string(value) for value in values):
            return {"in": "query", "parameter": name} if not bad_string(name) else {"in": "query"}
    return {"in": "query"}  # in a parameter's name
