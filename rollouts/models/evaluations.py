"""Every evaluation of a rollout, with its numbers, so a halt or an advance explains itself."""

from django.db import models


class Outcome(models.TextChoices):
    WAIT = "wait", "Wait (soaking or inconclusive)"
    ADVANCE = "advance", "Advanced a stage"
    COMPLETE = "complete", "Completed"
    AWAIT_APPROVAL = "await_approval", "Healthy; a manual gate waits for a person"
    PAUSE = "pause", "Paused: inconclusive past the stage's maximum duration"
    HALT = "halt", "Halted"
    SKIPPED = "skipped", "Not running"
    ERROR = "error", "Not evaluated: the evaluator failed on it (see the audit trail)"


class Evaluation(models.Model):
    rollout = models.ForeignKey(
        "rollouts.Rollout", on_delete=models.CASCADE, related_name="evaluations"
    )
    at = models.DateTimeField()
    stage_index = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    numbers = models.JSONField(default=dict)
    reason = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["rollout", "-at"])]

    def __str__(self) -> str:
        return f"{self.rollout} @ {self.at:%Y-%m-%d %H:%M}: {self.outcome}"
