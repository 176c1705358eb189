"""Fleet inventory: vehicles, their ECUs and their bearer tokens."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from rollouts.vin import VIN_PATTERN
from signing.names import HARDWARE_ID_MESSAGE, HARDWARE_ID_PATTERN

validate_vin = RegexValidator(
    rf"^{VIN_PATTERN}$",
    "A VIN is 17 characters: digits and capital letters except I, O and Q (ISO 3779).",
    code="invalid_vin",
)
validate_serial = RegexValidator(
    r"^[A-Za-z0-9._:-]{1,64}$", "Letters, digits and . _ : - only.", code="invalid_serial"
)
validate_hardware_id = RegexValidator(
    HARDWARE_ID_PATTERN, HARDWARE_ID_MESSAGE, code="invalid_hardware_id"
)


class VehicleManager(models.Manager):
    """The latest manifest (a few KiB) is written by every poll and read almost never; the
    timestamp copy only by the Director's timestamp.json."""

    def get_queryset(self):
        return super().get_queryset().defer("last_manifest", "director_timestamp")


class Vehicle(models.Model):
    vin = models.CharField("VIN", max_length=17, unique=True, validators=[validate_vin])
    model = models.CharField(max_length=64, db_index=True)
    region = models.CharField(max_length=16, db_index=True, help_text="Market, e.g. US, EU, CN.")
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",  # rows written by hand (bulk loads, benchmarks) need not name it
        help_text="IANA time zone of the car's install windows; blank: its market's.",
    )
    # The install policy format the car obeys, from its manifest (0: none): a release with a
    # policy is never offered to a car that would ignore it.
    install_policy_version = models.PositiveSmallIntegerField(
        default=0, db_default=0, editable=False
    )
    channel = models.ForeignKey(
        "rollouts.Channel", on_delete=models.PROTECT, related_name="vehicles"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The row an idle poll writes, and the only one: the replay counter, last seen and the
    # latest manifest exactly as sent (the history of changes is InstalledChange).
    # A manifest must exceed the highest report counter accepted (replay guard).
    report_counter = models.BigIntegerField(default=-1)
    last_manifest = models.TextField(blank=True, editable=False)
    last_manifest_at = models.DateTimeField(null=True, blank=True)
    # What the Director last signed for this vehicle, to re-sign only when it changes, and
    # when that metadata is due to be signed again, changed or not (late in its life:
    # signing/director.py, director_refresh_due).
    director_fingerprint = models.CharField(max_length=64, blank=True)
    director_targets_version = models.PositiveIntegerField(default=0)
    director_refresh_at = models.DateTimeField(null=True, blank=True)
    # A copy of its current timestamp.json (the busiest file), written with the signature.
    director_timestamp = models.BinaryField(null=True, editable=False)
    # What the last decision was based on (rollouts/services/decisions.py): this vehicle's
    # own inputs (assignments, cohort lists, channel) and its channel's decision version.
    # While both still hold and its images are unchanged, a poll decides nothing anew.
    inputs_version = models.PositiveBigIntegerField(default=1)
    decided_inputs_version = models.PositiveBigIntegerField(default=0)
    decided_channel_version = models.PositiveBigIntegerField(default=0)
    # The last decision left an install pending (poll sooner).
    poll_pending = models.BooleanField(default=False)

    objects = VehicleManager()

    class Meta:
        ordering = ["vin"]
        base_manager_name = "objects"

    def __str__(self) -> str:
        return self.vin

    @property
    def effective_time_zone(self) -> str:
        """Where the car's install windows are read: its own zone, else its market's."""
        return self.time_zone or settings.OTA_MARKET_TIME_ZONES.get(self.region, "UTC")


class Ecu(models.Model):
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="ecus")
    serial = models.CharField(max_length=64, validators=[validate_serial])
    hardware_id = models.CharField(max_length=64, db_index=True, validators=[validate_hardware_id])
    primary = models.BooleanField(default=False)
    public_key = models.JSONField(help_text="TUF key form: keytype, scheme, keyval.public.")
    keyid = models.CharField(max_length=64)
    # What the ECU last reported as installed. A known bundle is linked; an unknown image
    # (factory, workshop) keeps only its path and hash and counts as release counter 0.
    installed_path = models.CharField(max_length=200, blank=True)
    installed_sha256 = models.CharField(max_length=64, blank=True)
    installed_length = models.BigIntegerField(null=True, blank=True)
    installed_bundle = models.ForeignKey(
        "signing.Bundle", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    installed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "ECU"
        ordering = ["vehicle", "-primary", "serial"]
        constraints = [
            models.UniqueConstraint(
                fields=["vehicle", "serial"], name="ecu_serial_unique_per_vehicle"
            ),
            models.UniqueConstraint(
                fields=["vehicle"], condition=Q(primary=True), name="ecu_one_primary_per_vehicle"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.serial} ({self.hardware_id})"

    @property
    def installed_release_counter(self) -> int:
        return self.installed_bundle.release_counter if self.installed_bundle_id else 0


class VehicleType(models.Model):
    """Each vehicle type (model) the fleet has in a market, kept as cars are provisioned: what
    a release must be assessed for there, read without scanning the cars."""

    market = models.CharField(max_length=16)
    model = models.CharField(max_length=64)

    class Meta:
        ordering = ["market", "model"]
        constraints = [
            models.UniqueConstraint(fields=["market", "model"], name="vehicle_type_once_a_market")
        ]

    def __str__(self) -> str:
        return f"{self.model} in {self.market}"


class VehicleToken(models.Model):
    """A bearer token bound to one vehicle. Only a hash of the secret is kept."""

    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="tokens")
    public_id = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["vehicle"],
                condition=Q(revoked_at__isnull=True),
                name="vehicletoken_one_active_per_vehicle",
            ),
        ]

    def __str__(self) -> str:
        return f"vt_{self.public_id}_…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
