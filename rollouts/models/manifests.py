"""What vehicle manifests changed: installed-image history and refused reports. The latest
manifest itself is kept on the vehicle row (`Vehicle.last_manifest`)."""

from django.db import models


class InstalledChange(models.Model):
    """An ECU's installed image changed between two manifests."""

    vehicle = models.ForeignKey(
        "rollouts.Vehicle", on_delete=models.CASCADE, related_name="installed_changes"
    )
    ecu_serial = models.CharField(max_length=64)
    from_path = models.CharField(max_length=200, blank=True)
    to_path = models.CharField(max_length=200, blank=True)
    to_sha256 = models.CharField(max_length=64, blank=True)
    to_bundle = models.ForeignKey(
        "signing.Bundle", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    report_counter = models.BigIntegerField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["vehicle", "-at"])]

    def __str__(self) -> str:
        return f"{self.vehicle} {self.ecu_serial}: {self.from_path or '?'} → {self.to_path or '?'}"


class ManifestProblem(models.Model):
    """Something in a manifest was refused or dropped: a bad ECU report, an unknown ECU."""

    vehicle = models.ForeignKey(
        "rollouts.Vehicle", on_delete=models.CASCADE, related_name="manifest_problems"
    )
    ecu_serial = models.CharField(max_length=64, blank=True)
    code = models.CharField(max_length=40)
    detail = models.TextField(blank=True)
    report_counter = models.BigIntegerField(null=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.vehicle} {self.code}"
