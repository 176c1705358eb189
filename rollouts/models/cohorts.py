"""Cohorts: a named set of vehicles that a rollout can be narrowed to."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

validate_cohort_name = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{0,63}$",
    "Lower-case letters, digits and hyphens, starting with a letter or digit.",
    code="invalid_cohort_name",
)


class CohortKind(models.TextChoices):
    STATIC = "static", "Static list of vehicles"
    FILTER = "filter", "Filter on model, region, hardware and installed software"


class Cohort(models.Model):
    """Either a static list (`members`) or a filter whose every given part must hold.
    Filters are evaluated at each poll, so vehicles that come to match later join."""

    name = models.CharField(max_length=64, unique=True, validators=[validate_cohort_name])
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=8, choices=CohortKind.choices)
    # Filter parts; an empty one means "any".
    model_names = models.JSONField(default=list, blank=True)
    regions = models.JSONField(default=list, blank=True)
    hardware_ids = models.JSONField(
        default=list, blank=True, help_text="The vehicle has an ECU of one of these."
    )
    # [{"hardware_id", "versions": [...], "min_counter", "max_counter"}]: each must hold.
    installed = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CohortMember(models.Model):
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="members")
    vehicle = models.ForeignKey(
        "rollouts.Vehicle", on_delete=models.CASCADE, related_name="cohort_memberships"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cohort", "vehicle"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "vehicle"], name="cohort_member_once")
        ]
        # The poll asks "which of these cohorts list this vehicle?"
        indexes = [models.Index(fields=["vehicle", "cohort"])]

    def __str__(self) -> str:
        return f"{self.vehicle} in {self.cohort}"
