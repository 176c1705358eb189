"""Releases: a named set of bundles, at most one per hardware id; immutable once approved."""

from django.conf import settings
from django.db import models

from ota.lifecycle import Lifecycle, move
from rollouts.errors import ReleaseStateConflict


class ReleaseStatus(models.TextChoices):
    DRAFT = "draft"
    APPROVED = "approved"


# A release is created as a draft (or arrives approved: an import, a revert) and is approved
# once, by someone other than its author; immutable from then on.
RELEASE_LIFECYCLE = Lifecycle(
    {"approve": move([ReleaseStatus.DRAFT], [ReleaseStatus.APPROVED], checks=["four_eyes"])},
    conflict=ReleaseStateConflict,
)


class Release(models.Model):
    version = models.CharField(max_length=64, unique=True)
    notes = models.TextField(blank=True)
    # Empty means every model / every region.
    model_names = models.JSONField(default=list, blank=True)
    regions = models.JSONField(default=list, blank=True)
    # When and how cars may install it (rollouts/install_policy.py); {}: whenever offered.
    install_policy = models.JSONField(default=dict, blank=True)
    # Markets a homologation engineer approved it for (compliance.MarketApproval), copied here
    # in the same transaction so that deciding for a car reads no other table.
    approved_markets = models.JSONField(default=list, blank=True, editable=False)
    status = models.CharField(
        max_length=16, choices=ReleaseStatus.choices, default=ReleaseStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("approve_release", "Can approve releases made by someone else")]

    def __str__(self) -> str:
        return self.version


class ReleaseBundle(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="items")
    bundle = models.ForeignKey("signing.Bundle", on_delete=models.PROTECT, related_name="+")
    hardware_id = models.CharField(max_length=64)
    # Other components this bundle needs: {"bms-v2": 205} = a bms-v2 ECU at release counter
    # 205 or higher, installed already or installed by this same release.
    requires = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["release", "hardware_id"], name="release_one_bundle_per_hardware"
            )
        ]

    def __str__(self) -> str:
        return f"{self.release}: {self.bundle}"
