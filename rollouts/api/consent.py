"""The consent a driver gives to join a self-service channel (forever beta)."""

from rest_framework import serializers

from ota.serializers import RejectUnknownFieldsMixin, StrictBooleanField, StrictCharField


class ConsentSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    terms_version = StrictCharField(max_length=40)
    accepted = StrictBooleanField()
    by = StrictCharField(max_length=150, required=False, allow_blank=True)

    def validate_accepted(self, value):
        if value is not True:
            raise serializers.ValidationError("Consent must be accepted.")
        return value
