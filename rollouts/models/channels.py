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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name
