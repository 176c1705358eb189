"""Per-market type approval (UN R156): approvals with their impact assessments, the RXSWIN
register, each vehicle's RXSWIN, and the evidence of every update delivered."""

from django.conf import settings
from django.db import models

from compliance.errors import ExportStateConflict
from ota.lifecycle import Lifecycle, move


class MarketApproval(models.Model):
    """A homologation engineer's approval of a release for one market, given after the
    release's own four-eyes approval; without it the release is offered to no car there."""

    release = models.ForeignKey(
        "rollouts.Release", on_delete=models.PROTECT, related_name="market_approvals"
    )
    market = models.CharField(max_length=16)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-approved_at"]
        constraints = [
            models.UniqueConstraint(fields=["release", "market"], name="one_approval_per_market")
        ]
        permissions = [("approve_market", "Can approve a release for a market (homologation)")]

    def __str__(self) -> str:
        return f"{self.release} in {self.market}"


class ImpactAssessment(models.Model):
    """Whether the release affects one vehicle type's approval in the approval's market."""

    approval = models.ForeignKey(
        MarketApproval, on_delete=models.PROTECT, related_name="assessments"
    )
    model = models.CharField("vehicle type", max_length=64)
    affects_type_approval = models.BooleanField()
    rationale = models.TextField()
    rxswin_before = models.CharField("RXSWIN before", max_length=64, blank=True)
    new_rxswin = models.CharField("new RXSWIN", max_length=64, blank=True)

    class Meta:
        ordering = ["approval", "model"]
        constraints = [
            models.UniqueConstraint(fields=["approval", "model"], name="one_assessment_per_type")
        ]

    def __str__(self) -> str:
        return f"{self.approval}: {self.model}"


class RxswinEntry(models.Model):
    """The RXSWIN register: each RXSWIN a vehicle type has carried in a market, the newest
    last. `release` is the update that brings it (none for a type's first, registered)."""

    model = models.CharField("vehicle type", max_length=64)
    market = models.CharField(max_length=16)
    rxswin = models.CharField("RXSWIN", max_length=64)
    release = models.ForeignKey(
        "rollouts.Release", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)

    class Meta:
        verbose_name = "RXSWIN register entry"
        verbose_name_plural = "RXSWIN register"
        ordering = ["market", "model", "-recorded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "market", "rxswin"], name="rxswin_once_per_type_and_market"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model}/{self.market}: {self.rxswin}"


class VehicleRxswin(models.Model):
    """A vehicle's current RXSWIN, moved when it installs an update that changes it."""

    vehicle = models.OneToOneField(
        "rollouts.Vehicle", on_delete=models.CASCADE, primary_key=True, related_name="rxswin"
    )
    rxswin = models.CharField("RXSWIN", max_length=64)
    release = models.ForeignKey(
        "rollouts.Release", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    since = models.DateTimeField()

    class Meta:
        verbose_name = "vehicle RXSWIN"

    def __str__(self) -> str:
        return f"{self.vehicle_id}: {self.rxswin}"


class EvidenceKind(models.TextChoices):
    OFFERED = "offered"
    INSTALLED = "installed"
    FAILED = "failed"
    TIMED_OUT = "timed_out", "Timed out"
    DEFERRED = "deferred"
    REVERTED = "reverted", "Reverted (the previous release installed again)"


class EvidenceRecord(models.Model):
    """One fact about one vehicle and one release, kept for the regulator. Written in the
    transaction that changes the fleet, never deleted by pruning (OTA_EVIDENCE_RETENTION_DAYS).
    The VIN, model and market are copied: evidence outlives the vehicle's own row."""

    vin = models.CharField("VIN", max_length=17)
    model = models.CharField(max_length=64)
    market = models.CharField(max_length=16)
    release = models.ForeignKey("rollouts.Release", on_delete=models.PROTECT, related_name="+")
    rollout_id = models.BigIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=16, choices=EvidenceKind.choices)
    at = models.DateTimeField()
    reason = models.CharField(max_length=64, blank=True)
    rxswin_before = models.CharField("RXSWIN before", max_length=64, blank=True)
    rxswin_after = models.CharField("RXSWIN after", max_length=64, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["vin", "at"], name="evidence_by_vin"),
            models.Index(fields=["release", "at"], name="evidence_by_release"),
            models.Index(fields=["market", "at"], name="evidence_by_market"),
            models.Index(fields=["at", "id"], name="evidence_by_at"),  # the admin's list
        ]

    def __str__(self) -> str:
        return f"{self.vin} {self.kind} {self.release_id} at {self.at:%Y-%m-%d %H:%M}"


class KeyPurpose(models.TextChoices):
    EVIDENCE = "evidence", "Evidence exports"
    RELEASES = "releases", "Release exports to isolated deployments"


class ExportKey(models.Model):
    """A key that signs what leaves the server on purpose (evidence for auditors, releases
    for an isolated market's deployment), held like the repositories' online keys (encrypted
    local PEM or AWS KMS) and rotated like them; retired keys stay published so that older
    files still verify."""

    purpose = models.CharField(max_length=16, choices=KeyPurpose.choices)
    keyid = models.CharField(max_length=64, unique=True)
    public_key = models.JSONField(help_text="TUF key form: keytype, scheme, keyval.public.")
    backend = models.CharField(max_length=16)
    encrypted_private_key = models.BinaryField(null=True, editable=False)
    kms_key_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["purpose", "-created_at"]

    def __str__(self) -> str:
        return f"{self.purpose} key {self.keyid[:12]}"


class ExportScope(models.TextChoices):
    VIN = "vin", "One vehicle"
    RELEASE = "release", "One release"
    MARKET = "market", "A market over a period"


class ExportFormat(models.TextChoices):
    JSON = "json", "JSON"
    CSV = "csv", "CSV"


class ExportStatus(models.TextChoices):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


# An export is built once, on the long queue; one lost with its task is built again.
EXPORT_LIFECYCLE = Lifecycle(
    {"build": move([ExportStatus.BUILDING], [ExportStatus.READY, ExportStatus.FAILED])},
    conflict=ExportStateConflict,
)


class EvidenceExport(models.Model):
    """A signed file of evidence records, built by a task (a market's year can be millions
    of rows): the file, its SHA-256 line (`sha256sum` form) and that line's signature."""

    scope = models.CharField(max_length=16, choices=ExportScope.choices)
    vin = models.CharField("VIN", max_length=17, blank=True)
    release = models.ForeignKey(
        "rollouts.Release", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    market = models.CharField(max_length=16, blank=True)
    period_from = models.DateTimeField(null=True, blank=True)
    period_to = models.DateTimeField(null=True, blank=True)
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.BUILDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    # When the status last changed or a sweep re-queued it (signing/services/stalled.py).
    status_changed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows = models.PositiveBigIntegerField(default=0)
    expected_rows = models.PositiveBigIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    key = models.ForeignKey(ExportKey, null=True, on_delete=models.PROTECT, related_name="+")
    signature = models.BinaryField(null=True, editable=False)
    failure = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return self.file_name or f"export {self.pk}"
