"""Serializer fields and mixins that refuse what JSON clients should never send."""

from django.conf import settings
from rest_framework import serializers

# The largest integer a bigint column (ids, lengths) holds: larger ones are refused as input,
# not left to overflow in the database (a 500 on PostgreSQL, an OverflowError on SQLite).
MAX_BIGINT = 2**63 - 1


class StrictCharField(serializers.CharField):
    """A JSON string, never a number or a boolean coerced into one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def configured_markets() -> list[str]:
    return list(settings.OTA_REGIONS)


class MarketField(StrictCharField):
    """A market (region) code. Whoever owns the rule refuses an unknown one with its own code
    (a serializer, a service), reading settings.OTA_REGIONS; the schema reads it too, when it
    is generated (`openapi_schema`, ota/schema.py): the configured markets are its enum,
    named MarketEnum (SPECTACULAR_SETTINGS)."""

    def openapi_schema(self) -> dict:
        return {"enum": configured_markets()}


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only ("yes", 1 and "on" are refused)."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, never a string, a float or a boolean."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID as a JSON string (DRF would read the number 12345 or true as a UUID)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number, never a string or a boolean."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class UniqueListField(serializers.ListField):
    """A list that names each item once (the schema says `uniqueItems`)."""

    default_error_messages = {"repeated": "Each item once."}

    def to_internal_value(self, data):
        items = super().to_internal_value(data)
        if len(set(items)) != len(items):
            self.fail("repeated")
        return items

    def openapi_schema(self) -> dict:
        return {"uniqueItems": True}


class RejectUnknownFieldsMixin:
    # A misspelt field is an error, not silently ignored (a typo in "channel" would otherwise
    # leave a vehicle on the default channel). A comment, not a docstring: the OpenAPI schema
    # would repeat a docstring as the description of every serializer that mixes this in.
    # The schema says it as `additionalProperties: false` (ota/schema.py).

    # A read-only field sent in a request is refused the same way: DRF would drop it silently,
    # and a client that sets it would believe it had.

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            problems = {
                name: ["Read-only: set by the server."]
                if name in self.fields
                else ["Unknown field."]
                for name in data
                if name not in writable
            }
            if problems:
                raise serializers.ValidationError(dict(sorted(problems.items())))
        return super().to_internal_value(data)
