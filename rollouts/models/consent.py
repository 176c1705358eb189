"""The append-only trail of channel changes and the consent given for them."""

from django.conf import settings
from django.db import models


class ChangeVia(models.TextChoices):
    VEHICLE = "vehicle", "Driver in the vehicle"
    API = "api", "Management API (e.g. companion app)"
    ADMIN = "admin", "Staff in the admin"


class ChannelChange(models.Model):
    vehicle = models.ForeignKey(
        "rollouts.Vehicle", on_delete=models.CASCADE, related_name="channel_changes"
    )
    from_channel = models.ForeignKey("rollouts.Channel", on_delete=models.PROTECT, related_name="+")
    to_channel = models.ForeignKey("rollouts.Channel", on_delete=models.PROTECT, related_name="+")
    via = models.CharField(max_length=16, choices=ChangeVia.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who consented: the driver, an app account, a staff member.
    consent_by = models.CharField(max_length=150, blank=True)
    terms_version = models.CharField(max_length=40, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.vehicle}: {self.from_channel} → {self.to_channel} ({self.via})"
