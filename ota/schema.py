"""The OpenAPI schema states every answer, errors included (drf-spectacular post-processing).

DRF views document their success; every one of them may also refuse in the one error format
(ota/api.py). The statuses are those the server gives; a schema that leaves them out tells a
client generator that a 401 or a 429 cannot happen."""

from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from ota.serializers import RejectUnknownFieldsMixin
from ota.text import NO_NUL_PATTERN, NOT_BLANK_PATTERN
from rollouts.vin import VIN_PATTERN

VIN_PATTERN_ANCHORED = f"^{VIN_PATTERN}$"

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


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


METADATA_NAME = {
    "name": "filename",
    "in": "path",
    "required": True,
    "schema": {
        "type": "string",
        "pattern": r"^([1-9][0-9]{0,9}\.)?(root|targets|snapshot|timestamp)\.json$",
    },
    "description": "`timestamp.json`, or `N.snapshot.json`, `N.targets.json`, `N.root.json`",
}
URL_NUL = _error("NUL in the path or query (ota/middleware.py).")
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
METADATA_OK = {
    "description": "The signed metadata (TUF), with an ETag",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
NOT_MODIFIED = {"description": "The copy the client holds (If-None-Match) is current"}

TUF_REPOSITORIES = {
    # Plain Django views (exact stored bytes, conditional requests, Range), described here.
    "/api/v1/tuf/director/{vin}/metadata/{filename}": {
        "get": {
            "operationId": "vehicle_director_metadata",
            "tags": ["tuf"],
            "summary": "This vehicle's Director metadata, the exact signed bytes",
            "description": "The root is shared by every vehicle; the rest is this vehicle's "
            "own (`Cache-Control: private`). The token is checked before `If-None-Match`.",
            "security": [{"vehicleToken": []}],
            "parameters": [
                {
                    "name": "vin",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": VIN_PATTERN_ANCHORED},
                },
                METADATA_NAME,
                IF_NONE_MATCH,
            ],
            "responses": {
                "200": METADATA_OK,
                "304": NOT_MODIFIED,
                "400": URL_NUL,
                "401": _error("No token, or an unknown or revoked one."),
                "403": _error("The token belongs to another vehicle (`vin_mismatch`)."),
                "404": _error("No such metadata."),
                "405": _error("Only GET and HEAD."),
                "429": _error("Too many requests; `Retry-After` says when to try again."),
                "503": _error("The database is down; `Retry-After` says when to try again."),
            },
        }
    },
    "/api/v1/tuf/image/metadata/{filename}": {
        "get": {
            "operationId": "tuf_image_metadata",
            "tags": ["tuf"],
            "summary": "Image repository metadata, the exact signed bytes (public)",
            "security": [{}],
            "parameters": [METADATA_NAME, IF_NONE_MATCH],
            "responses": {
                "200": METADATA_OK,
                "304": NOT_MODIFIED,
                "400": URL_NUL,
                "404": _error("No such metadata."),
                "405": _error("Only GET and HEAD."),
            },
        }
    },
    "/api/v1/tuf/image/targets/{target}": {
        "get": {
            "operationId": "tuf_image_target",
            "tags": ["tuf"],
            "summary": "A published bundle's bytes (Range requests; on S3 a redirect)",
            "security": [{}, {"vehicleToken": []}],
            "parameters": [
                {
                    "name": "target",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": NO_NUL_PATTERN},
                },
                {"name": "Range", "in": "header", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The bundle",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "206": {
                    "description": "The requested range",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "302": {"description": "A short-lived URL in the vehicle's regional bucket"},
                "400": URL_NUL,
                "401": _error(
                    "A vehicle token is required (OTA_TARGETS_REQUIRE_TOKEN), or it is invalid."
                ),
                "404": _error("No published bundle has this target path."),
                "405": _error("Only GET and HEAD."),
                "416": _error("The range is outside the bundle."),
                "503": _error("Bundle storage is down; Retry-After says when to try again."),
            },
        }
    },
}


def add_error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    result.setdefault("paths", {}).update(TUF_REPOSITORIES)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, methods in result.get("paths", {}).items():
        if path in TUF_REPOSITORIES:
            continue  # described whole above
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(status, {"description": description, "content": error})
    return result


# The API docs in three groups, in this order (SPECTACULAR_SETTINGS["TAGS"] describes them).
TAGS_BY_PATH = (
    ("/api/v1/vehicles/", "vehicle"),
    ("/api/v1/tuf/", "tuf"),
    ("/api/v1/manage/", "management"),
    ("/api/v1/export-keys", "management"),  # public, to verify what management exported
)


def _say_text_rules(field, schema: dict[str, Any]) -> None:
    """A string field that refuses NUL (every DRF CharField does; in a JSON body the parser
    does too) says so with a pattern, and one that refuses blank text once trimmed says that
    too, unless a pattern of its own says more already."""
    if isinstance(field, serializers.ListField) and isinstance(schema.get("items"), dict):
        _say_text_rules(field.child, schema["items"])
    elif isinstance(field, serializers.DictField) and isinstance(
        schema.get("additionalProperties"), dict
    ):
        _say_text_rules(field.child, schema["additionalProperties"])
    elif (
        schema.get("type") == "string"
        and not schema.keys() & {"pattern", "enum", "format"}
        and any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators)
    ):
        trimmed = getattr(field, "trim_whitespace", False)
        blank = trimmed and not getattr(field, "allow_blank", True)
        schema["pattern"] = NOT_BLANK_PATTERN if blank else NO_NUL_PATTERN


# What a request may put where its schema leaves the shape open (a manifest's extra fields,
# a car's state): any JSON whose text holds no NUL, which the parser refuses anywhere. That
# keys hold none OpenAPI 3.0 cannot say (no propertyNames).
ANY_JSON = {
    "description": "Any JSON value; no text in it holds NUL.",
    "anyOf": [
        {"type": "string", "pattern": NO_NUL_PATTERN},
        {"type": "number"},
        {"type": "boolean"},
        {"enum": [None]},  # null, as drf-spectacular's own NullEnum says it in OpenAPI 3.0
        {"type": "array", "items": {"$ref": "#/components/schemas/AnyJson"}},
        {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/AnyJson"}},
    ],
}


class StrictAutoSchema(AutoSchema):
    """Request schemas as strict as the server: an object whose serializer refuses unknown
    fields says so (`additionalProperties: false`), a list or an object says how many items
    it takes (`minItems`/`minProperties` when it may not be empty, `maxItems` when bounded),
    and a string that may not hold NUL, or be blank, says so (a pattern). A field or a
    serializer whose rule is read from settings, or checked by a service with its own error
    code, states it with an `openapi_schema()` method, called when the schema is generated.
    A path or query parameter says it may not hold NUL."""

    def _get_parameters(self):
        # A path or query parameter may not hold NUL either (ota/middleware.py).
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if schema.get("type") == "string" and not schema.keys() & {"pattern", "enum", "format"}:
                parameter["schema"] = {**schema, "pattern": NO_NUL_PATTERN}
        return parameters

    def _any_json(self) -> dict[str, str]:
        component = ResolvedComponent(
            name="AnyJson", type=ResolvedComponent.SCHEMA, schema=ANY_JSON, object="AnyJson"
        )
        self.registry.register_on_missing(component)
        return component.ref

    def get_tags(self) -> list[str]:
        for prefix, tag in TAGS_BY_PATH:
            if self.path.startswith(prefix):
                return [tag]
        return super().get_tags()

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction != "request":
            return schema
        if isinstance(serializer, RejectUnknownFieldsMixin):
            schema["additionalProperties"] = False
        else:  # extra fields are taken, as any JSON
            schema["additionalProperties"] = self._any_json()
        if hasattr(serializer, "openapi_schema"):  # a rule across its fields
            schema.update(serializer.openapi_schema())
        # After drf-spectacular mapped the validators: a RegexValidator's pattern comes first.
        for name, field_schema in schema.get("properties", {}).items():
            _say_text_rules(serializer.fields[name], field_schema)
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        nested = isinstance(field, serializers.BaseSerializer)  # a $ref: said in its component
        if direction == "request" and hasattr(field, "openapi_schema") and not nested:
            schema.update(field.openapi_schema())
        lists = (serializers.ListField, serializers.ListSerializer)
        if isinstance(field, lists) and schema.get("type") == "array":
            if not field.allow_empty:
                schema.setdefault("minItems", 1)
            if getattr(field, "max_length", None):
                schema.setdefault("maxItems", field.max_length)
        dicts = isinstance(field, serializers.DictField) and schema.get("type") == "object"
        if dicts and not field.allow_empty:
            schema.setdefault("minProperties", 1)
        if dicts and direction == "request" and schema.get("additionalProperties") == {}:
            schema["additionalProperties"] = self._any_json()
        return schema
