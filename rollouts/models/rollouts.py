"""Rollouts of a release to a channel, and each vehicle's assignment in one."""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from ota.lifecycle import Lifecycle, move
from rollouts.errors import RevertNotPossible, RolloutStateConflict
from rollouts.halts import halt_description


class RolloutStatus(models.TextChoices):
    DRAFT = "draft"
    APPROVED = "approved"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    HALTED = "halted"
    ABORTED = "aborted"


S = RolloutStatus
# Every change of a rollout's status is one of these actions (rollouts/services/transitions.py),
# from the states it names and after its checks; the only way out of `approved` into
# `running` is a start, with the start's checks. The admin and the API offer the same table
# (services/rollout_actions.py).
ROLLOUT_LIFECYCLE = Lifecycle(
    {
        "approve": move([S.DRAFT], [S.APPROVED], checks=["four_eyes"]),
        "start": move([S.APPROVED], [S.RUNNING], checks=["market_approval", "promotion_gate"]),
        "pause": move([S.RUNNING], [S.PAUSED]),
        "resume": move([S.PAUSED, S.HALTED], [S.RUNNING], checks=["reason_after_halt"]),
        # To the next stage, or past the last one: completed.
        "advance": move([S.RUNNING], [S.RUNNING, S.COMPLETED]),
        "halt": move([S.RUNNING, S.PAUSED], [S.HALTED]),
        "abort": move([S.DRAFT, S.APPROVED, S.RUNNING, S.PAUSED, S.HALTED], [S.ABORTED]),
        # Stays halted: a revert rollout of its own sends the cars back (services/revert.py).
        "revert": move([S.HALTED]),
    },
    conflict=RolloutStateConflict,
    conflicts={"revert": RevertNotPossible},
)
# A rollout in one of these states has started (it has `started_at`: a database constraint),
# and offers or keeps the offers it made: entering or leaving one changes decisions.
DELIVERING = (S.RUNNING, S.PAUSED, S.HALTED, S.COMPLETED)
# Vehicles are offered the release while its rollout is in one of these states.
OFFERING = (RolloutStatus.RUNNING, RolloutStatus.COMPLETED)


def _new_salt() -> str:
    return secrets.token_hex(16)


class Rollout(models.Model):
    release = models.ForeignKey(
        "rollouts.Release", on_delete=models.PROTECT, related_name="rollouts"
    )
    channel = models.ForeignKey(
        "rollouts.Channel", on_delete=models.PROTECT, related_name="rollouts"
    )
    regions = models.JSONField(default=list, blank=True)
    model_names = models.JSONField(default=list, blank=True)
    cohort = models.ForeignKey(
        "rollouts.Cohort",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rollouts",
        help_text="Empty: every vehicle of the channel (within the regions and models).",
    )
    status = models.CharField(
        max_length=16, choices=RolloutStatus.choices, default=RolloutStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Bucketing key: bucket = H(salt, VIN) mod 10000 (rollouts/targeting.py).
    salt = models.CharField(max_length=32, default=_new_salt, editable=False)
    # [{"percent", "min_soak_minutes", "gate": "auto"|"manual", "max_duration_minutes"}, …]
    stages = models.JSONField(default=list)
    stage_index = models.PositiveSmallIntegerField(default=0)
    stage_started_at = models.DateTimeField(null=True, blank=True)
    policy = models.JSONField(default=dict)
    # The release's install policy unless this rollout has its own (None).
    install_policy = models.JSONField(null=True, blank=True)
    # Why the rollout halted: metric, stage, value, bound, threshold, sample.
    halt_reason = models.JSONField(null=True, blank=True)
    # How often it halted, even if resumed since: the promotion gate wants a clean run.
    halts = models.PositiveIntegerField(default=0)
    # Its install policy is a safety recall: offered on every channel (rollouts/targeting.py).
    # A column, set once at creation (both policies are fixed by then), so a poll finds the
    # recalls of other channels in the query that finds its own channel's rollouts.
    safety_recall = models.BooleanField(default=False, editable=False)
    # Offered only to vehicles given an assignment up front (a revert), never by bucket.
    only_assigned = models.BooleanField(default=False)
    reverts = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="revert_rollouts",
        help_text="The halted rollout whose vehicles this one sends back.",
    )
    # An approver let the release skip the promotion gate, and said why.
    gate_override_reason = models.TextField(blank=True)
    gate_overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("approve_rollout", "Can approve rollouts made by someone else"),
            ("override_promotion_gate", "Can start a release that skipped a channel"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "channel"],
                condition=~Q(status__in=["aborted"]),
                name="rollout_one_live_per_release_channel",
            ),
            # No path makes a rollout deliver without the start that stamps these.
            models.CheckConstraint(
                condition=~Q(status__in=DELIVERING)
                | Q(started_at__isnull=False, stage_started_at__isnull=False),
                name="rollout_started_before_delivering",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.release} → {self.channel}"

    @property
    def halt_description(self) -> str | None:
        """Why it halted, as a sentence (rollouts/halts.py); None if it never did."""
        return halt_description(self.halt_reason, self)

    @property
    def effective_install_policy(self) -> dict:
        """What the Director signs: the rollout's own install policy, else its release's."""
        if self.install_policy is not None:
            return self.install_policy
        return self.release.install_policy

    @property
    def current_percent(self) -> float:
        """The share of the scope now offered; a completed rollout offers to everyone."""
        return self.percent_at(self.status, self.stage_index)

    def percent_at(self, status: str, stage_index: int) -> float:
        """The share of the scope its stage `stage_index` covers, in `status`."""
        if status == RolloutStatus.COMPLETED or not self.stages:
            return 100.0
        return float(self.stages[min(stage_index, len(self.stages) - 1)]["percent"])


class AssignmentStatus(models.TextChoices):
    OFFERED = "offered"
    DOWNLOADING = "downloading"
    DEFERRED = "deferred"  # the car waits to install: its window, its state, its driver
    INSTALLING = "installing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    RETRACTED = "retracted"
    REVERTED = "reverted"


OPEN = ("offered", "downloading", "deferred", "installing")
# May still end in success: a timed-out install that the vehicle later reports done.
SETTLEABLE = (*OPEN, "timed_out")
FINISHED = (
    AssignmentStatus.SUCCEEDED,
    AssignmentStatus.FAILED,
    AssignmentStatus.TIMED_OUT,
    AssignmentStatus.RETRACTED,
    AssignmentStatus.REVERTED,
)
ASSIGNMENT_TRANSITIONS: dict[str, set[str]] = {
    AssignmentStatus.OFFERED: {
        AssignmentStatus.DOWNLOADING,
        AssignmentStatus.DEFERRED,
        AssignmentStatus.INSTALLING,
        *FINISHED,
    },
    AssignmentStatus.DOWNLOADING: {
        AssignmentStatus.DEFERRED,
        AssignmentStatus.INSTALLING,
        *FINISHED,
    },
    # Allowed again: it downloads (a network deferral) or installs; or it ends.
    AssignmentStatus.DEFERRED: {
        AssignmentStatus.DOWNLOADING,
        AssignmentStatus.INSTALLING,
        *FINISHED,
    },
    AssignmentStatus.INSTALLING: {*FINISHED},
    # FAILED: a success reported by event that the next manifest does not show.
    AssignmentStatus.SUCCEEDED: {AssignmentStatus.REVERTED, AssignmentStatus.FAILED},
    AssignmentStatus.FAILED: set(),
    AssignmentStatus.TIMED_OUT: {AssignmentStatus.SUCCEEDED, AssignmentStatus.FAILED},
    AssignmentStatus.RETRACTED: set(),
    AssignmentStatus.REVERTED: set(),
}


class Assignment(models.Model):
    """One vehicle's part in one rollout. Its id is the `correlation_id` vehicles report."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="assignments")
    vehicle = models.ForeignKey(
        "rollouts.Vehicle", on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(
        max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.OFFERED
    )
    # The stage in which the vehicle was first offered the release (its counters' stage).
    stage_index = models.PositiveSmallIntegerField(default=0)
    # First download or install event: from then on the install can time out. A deferral
    # clears it: the time-out starts again once the car may install.
    started_at = models.DateTimeField(null=True, blank=True)
    # Waiting since, and why (vehicle_client/policy.py's reason codes), while deferred.
    deferred_at = models.DateTimeField(null=True, blank=True)
    deferral_reason = models.CharField(max_length=24, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Succeeded by the vehicle's own event, counted then (as failures are); its next manifest
    # confirms the new image or turns the success into a failure.
    awaiting_manifest = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rollout", "vehicle"], name="assignment_one_per_vehicle"
            )
        ]
        indexes = [
            models.Index(fields=["vehicle", "status"]),
            # The admin's list, newest first (its order, with the id Django adds).
            models.Index(fields=["created_at", "id"], name="assignment_by_created"),
            # The evaluator's stale installs: only those under way, oldest first, per rollout.
            models.Index(
                fields=["rollout", "started_at"],
                condition=Q(status__in=["downloading", "installing"]),
                name="assignment_installs_under_way",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle} in {self.rollout}: {self.status}"
