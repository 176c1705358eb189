"""Install lifecycle events and post-install health windows, idempotent by their ids."""

from django.db import models


class EventType(models.TextChoices):
    DOWNLOAD_STARTED = "download_started"
    DOWNLOAD_COMPLETED = "download_completed"
    DOWNLOAD_FAILED = "download_failed"
    VERIFICATION_FAILED = "verification_failed"
    INSTALL_DEFERRED = "install_deferred"
    INSTALL_STARTED = "install_started"
    INSTALL_SUCCEEDED = "install_succeeded"
    INSTALL_FAILED = "install_failed"
    ROLLBACK_SUCCEEDED = "rollback_succeeded"
    ROLLBACK_FAILED = "rollback_failed"


class DeferralReason(models.TextChoices):
    """Why a car waits to install: an `install_deferred` event's `error_code`."""

    OUTSIDE_WINDOW = "outside_window"
    NOT_PARKED = "not_parked"
    BATTERY_LOW = "battery_low"
    NETWORK = "network"
    DRIVER_DEFERRED = "driver_deferred"


class InstallEvent(models.Model):
    id = models.UUIDField(primary_key=True)  # chosen by the vehicle: a retry is a duplicate
    vehicle = models.ForeignKey("rollouts.Vehicle", on_delete=models.CASCADE, related_name="events")
    assignment = models.ForeignKey(
        "rollouts.Assignment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )
    correlation_id = models.CharField(max_length=64, blank=True)
    ecu_serial = models.CharField(max_length=64, blank=True)
    type = models.CharField(max_length=24, choices=EventType.choices)
    at = models.DateTimeField()
    error_code = models.CharField(max_length=64, blank=True)
    detail = models.TextField(blank=True)
    # download_completed: the Image target of the delta the car applied instead of the image.
    delta = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["vehicle", "-at"]),
            # The admin's list, newest first (its order, with the id Django adds).
            models.Index(fields=["at", "id"], name="installevent_by_at"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle} {self.type}"


class HealthWindow(models.Model):
    id = models.UUIDField(primary_key=True)
    vehicle = models.ForeignKey(
        "rollouts.Vehicle", on_delete=models.CASCADE, related_name="health_windows"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    driving_seconds = models.PositiveIntegerField()
    ignition_cycles = models.PositiveIntegerField()
    crashes = models.PositiveIntegerField()
    reboots = models.PositiveIntegerField()
    dtcs = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # What the vehicle had installed in the window, from its manifests: {ecu serial: path}.
    installed = models.JSONField(default=dict, blank=True)
    release = models.ForeignKey(
        "rollouts.Release", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start"]
        indexes = [models.Index(fields=["start", "id"], name="healthwindow_by_start")]

    def __str__(self) -> str:
        return f"{self.vehicle} {self.start:%Y-%m-%d %H:%M}"
