"""Serializer fields and mixins that refuse what JSON clients should never send."""

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


class RejectUnknownFieldsMixin:
    # A misspelt field is an error, not silently ignored (a typo in "channel" would otherwise
    # leave a vehicle on the default channel). A comment, not a docstring: the OpenAPI schema
    # would repeat a docstring as the description of every serializer that mixes this in.
    # The schema says it as `additionalProperties: false` (ota/schema.py).

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)
