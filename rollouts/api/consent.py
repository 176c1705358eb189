"""The consent a driver gives to join a self-service channel (forever beta)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ota.serializers import RejectUnknownFieldsMixin, StrictBooleanField, StrictCharField


@extend_schema_field({"type": "boolean", "enum": [True]})
class AcceptedField(StrictBooleanField):
    """true: the terms were accepted. Consent that was not given is no consent: false is
    refused, so the schema allows true only."""

    default_error_messages = {"not_accepted": "Consent must be accepted."}

    def to_internal_value(self, data):
        if super().to_internal_value(data) is not True:
            self.fail("not_accepted")
        return True


class ConsentSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    terms_version = StrictCharField(max_length=40)
    accepted = AcceptedField()
    by = StrictCharField(max_length=150, required=False, allow_blank=True)
