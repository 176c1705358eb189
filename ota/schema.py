"""The OpenAPI schema states every answer, errors included (drf-spectacular post-processing).

DRF views document their success; every one of them may also refuse in the one error format
(ota/api.py). The statuses are those the server gives; a schema that leaves them out tells a
client generator that a 401 or a 429 cannot happen."""

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string"},
                "detail": {"type": "object", "additionalProperties": True},
            },
            "required": ["code", "message", "detail"],
        }
    },
    "required": ["error"],
}

ERRORS = {
    "400": "The request is malformed or invalid; `detail` names each field.",
    "401": "No credentials, or unknown, revoked or expired ones.",
    "403": "Known, but not allowed (a permission, or another vehicle's path).",
    "404": "Nothing of that name or id.",
    "405": "This method is not offered here.",
    "406": "Only JSON is answered.",
    "409": "The state of the thing forbids this now (see `code`).",
    "413": "The body is larger than this endpoint takes.",
    "415": "Only JSON (or multipart for uploads) is taken.",
    "422": "Well-formed, but refused: see `code` and `detail`.",
    "429": "Too many requests; `Retry-After` says when to try again.",
    "503": "A part the server needs is down; `Retry-After` says when to try again.",
}


def add_error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(status, {"description": description, "content": error})
    return result
