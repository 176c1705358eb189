"""Signing keys, stored role metadata (exact bytes) and software bundles."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from ota.lifecycle import Lifecycle, move
from signing.errors import BundleStateConflict
from signing.names import TARGET_PATH_MESSAGE, TARGET_PATH_PATTERN


class Repo(models.TextChoices):
    IMAGE = "image", "Image repository"
    DIRECTOR = "director", "Director repository"


class Role(models.TextChoices):
    ROOT = "root"
    TARGETS = "targets"
    SNAPSHOT = "snapshot"
    TIMESTAMP = "timestamp"


class KeyBackend(models.TextChoices):
    LOCAL = "local", "Local (encrypted)"
    KMS = "kms", "AWS KMS"
    OFFLINE = "offline", "Offline (custodians)"


class Repository(models.Model):
    """One row per repository: the lock that serialises publishing."""

    name = models.CharField(max_length=16, choices=Repo.choices, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name


class SigningKey(models.Model):
    repo = models.CharField(max_length=16, choices=Repo.choices)
    role = models.CharField(max_length=16, choices=Role.choices)
    keyid = models.CharField(max_length=64, unique=True)
    public_key = models.JSONField(help_text="TUF key form: keytype, scheme, keyval.public.")
    backend = models.CharField(max_length=16, choices=KeyBackend.choices)
    # PKCS#8 PEM encrypted with OTA_KEY_PASSPHRASE; never stored or shown in clear.
    encrypted_private_key = models.BinaryField(null=True, editable=False)
    kms_key_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["repo", "role", "created_at"]
        indexes = [
            models.Index(
                fields=["repo", "role"],
                condition=Q(retired_at__isnull=True),
                name="signingkey_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.repo}/{self.role} {self.keyid[:12]}"


class RoleMetadata(models.Model):
    """A signed metadata file exactly as served. `scope` is empty for repository-wide roles
    and names the vehicle (VIN) for per-vehicle Director metadata."""

    repo = models.CharField(max_length=16, choices=Repo.choices)
    scope = models.CharField(max_length=32, blank=True, default="")
    role = models.CharField(max_length=16, choices=Role.choices)
    version = models.PositiveIntegerField()
    expires = models.DateTimeField()
    raw = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Image metadata is served from this moment on (the database's clock), null: at once.
    # Web processes keep the Image timestamp for a short lease (signing/metadata_cache.py); a
    # new version waits out every lease taken before it committed, so no process serves an
    # older timestamp after any has served this one.
    serve_from = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "role metadata"
        ordering = ["repo", "scope", "role", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["repo", "scope", "role", "version"], name="rolemetadata_one_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.repo}{'/' + self.scope if self.scope else ''} {self.version}.{self.role}"


validate_target_path = RegexValidator(TARGET_PATH_PATTERN, TARGET_PATH_MESSAGE, code="invalid_path")


class BundleStatus(models.TextChoices):
    AWAITING_UPLOAD = "awaiting_upload", "Awaiting direct upload"
    VERIFYING = "verifying", "Verifying hashes"
    VERIFIED = "verified", "Verified"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed"


B = BundleStatus
# What a bundle goes through (signing/services/bundles.py moves it only by these): an upload
# straight into storage is verified there, then published into the Image repository. An upload
# through the server is hashed as it is stored and starts verified.
BUNDLE_LIFECYCLE = Lifecycle(
    {
        "upload_completed": move([B.AWAITING_UPLOAD], [B.VERIFYING]),
        "verify": move([B.VERIFYING], [B.VERIFIED, B.FAILED]),
        "publish": move([B.VERIFIED], [B.PUBLISHED]),
    },
    conflict=BundleStateConflict,
)


class Bundle(models.Model):
    """One software image for one hardware id, stored content-addressed."""

    path = models.CharField(max_length=200, unique=True, validators=[validate_target_path])
    hardware_id = models.CharField(max_length=64, db_index=True)
    version = models.CharField(max_length=64)
    release_counter = models.PositiveIntegerField()
    length = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    sha512 = models.CharField(max_length=128, blank=True)
    blob_name = models.CharField(max_length=300, blank=True)
    # Markets with storage of their own that hold a verified copy (signing.BundleCopy); a
    # car of such a market is offered and sent the bundle only there.
    regions = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=BundleStatus.choices)
    # When `status` last changed: a verification queued long ago and never finished is queued
    # again (bundle_verifications_resume).
    status_changed_at = models.DateTimeField(null=True, blank=True)
    failure = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [("publish_bundle", "Can publish bundles into the Image repository")]
        constraints = [
            models.UniqueConstraint(
                fields=["hardware_id", "release_counter"], name="bundle_counter_unique_per_hardware"
            )
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def hashes(self) -> dict[str, str]:
        return {"sha256": self.sha256, "sha512": self.sha512} if self.sha256 else {}


class DeltaStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Signed and ready"
    FAILED = "failed", "Failed"


# A delta is built once, on the long queue; a build lost with its task is queued again.
DELTA_LIFECYCLE = Lifecycle(
    {"build": move([DeltaStatus.BUILDING], [DeltaStatus.READY, DeltaStatus.FAILED])},
    conflict=BundleStateConflict,
)


class Delta(models.Model):
    """A patch from one image (`source`, one the fleet runs) to a newer one (`result`), stored
    content-addressed like a bundle and signed into the Image repository as a target of its
    own, whose `custom` names the hashes of both images (docs/deltas.md)."""

    source = models.ForeignKey(Bundle, on_delete=models.PROTECT, related_name="deltas_from")
    result = models.ForeignKey(Bundle, on_delete=models.PROTECT, related_name="deltas_to")
    path = models.CharField(max_length=200, unique=True, validators=[validate_target_path])
    format = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=DeltaStatus.choices)
    length = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    sha512 = models.CharField(max_length=128, blank=True)
    blob_name = models.CharField(max_length=300, blank=True)
    # As a bundle's: regions whose bucket holds a copy (the download view serves both alike).
    regions = models.JSONField(default=list, blank=True)
    build_seconds = models.FloatField(null=True, blank=True)
    failure = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When `status` last changed: a build lost with its task is queued again.
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "result"], name="delta_one_per_pair")
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def saves(self) -> int:
        """Bytes a car downloads less than the full image."""
        return max(0, (self.result.length or 0) - (self.length or 0))


class CopyStatus(models.TextChoices):
    COPYING = "copying", "Copying"
    VERIFIED = "verified", "Copied and verified"
    FAILED = "failed", "Failed"


# A copy into a market's storage is made and read back; a failed one is tried again when asked.
COPY_LIFECYCLE = Lifecycle(
    {
        "copy": move([CopyStatus.COPYING], [CopyStatus.VERIFIED, CopyStatus.FAILED]),
        "retry": move([CopyStatus.FAILED], [CopyStatus.COPYING]),
    },
    conflict=BundleStateConflict,
)


class BundleCopy(models.Model):
    """A bundle's copy in one market's own storage (docs/operations.md, "Markets on S3 or
    Azure"): the Director offers the bundle to that market's cars only once it is verified.
    With `delta`, the copy is of that delta to the bundle: named to the market's cars once
    verified."""

    bundle = models.ForeignKey(Bundle, on_delete=models.PROTECT, related_name="copies")
    delta = models.ForeignKey(
        "Delta", null=True, blank=True, on_delete=models.PROTECT, related_name="copies"
    )
    market = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=CopyStatus.choices)
    failure = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # When `status` last changed: a copy lost with its task is queued again.
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "bundle copies"
        constraints = [
            models.UniqueConstraint(
                fields=["bundle", "market"],
                condition=Q(delta__isnull=True),
                name="copy_one_per_market",
            ),
            models.UniqueConstraint(
                fields=["delta", "market"],
                condition=Q(delta__isnull=False),
                name="delta_copy_one_per_market",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.delta or self.bundle} in {self.market}"

    @property
    def item(self):
        """What is copied: the delta, or else the bundle (both have blob, length, hashes)."""
        return self.delta if self.delta_id else self.bundle
