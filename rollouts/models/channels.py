"""Release channels, ordered into a pipeline (dev → forever-beta → beta → stable)."""

from django.db import models


class Channel(models.Model):
    name = models.SlugField(max_length=40, unique=True)
    title = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    # Place in the promotion pipeline: a release reaches a channel after the one before it.
    position = models.PositiveSmallIntegerField(unique=True)
    # Drivers may opt in and out of a self-service channel themselves (forever beta).
    self_service = models.BooleanField(default=False)
    # Bumped in the same transaction as anything that can change what this channel's
    # vehicles are offered (rollouts/services/decisions.py); polls compare it with theirs.
    decision_version = models.PositiveBigIntegerField(default=1, editable=False)
    # The last bumps with the cars each can concern (rollouts/reach.py): an idle poll that
    # no change since its last decision reaches need not decide again.
    decision_changes = models.JSONField(default=list, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # A save from a form read earlier must not write back an older decision version:
        # only rollouts/services/decisions.py moves it (and its log), under the row's lock.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key
                and field.name not in ("decision_version", "decision_changes")
            ]
        super().save(*args, **kwargs)
