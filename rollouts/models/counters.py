"""Counters per rollout and stage, incremented in the database as telemetry arrives.

Evaluation reads these rows only, so its cost does not grow with the number of events.
Each number counts entries into a state (cumulative), not vehicles currently in it.

A stage's counters are spread over `OTA_COUNTER_SLOTS` rows (`slot`), summed by readers: a
car counts in the slot its id picks, so the offers and reports of a whole stage do not queue
on one row lock (an offer holds its row until its transaction commits).
"""

from django.db import models

INSTALL_COUNTERS = [
    "offered",
    "downloading",
    "installing",
    "succeeded",
    "failed_install",
    "failed_verification",
    "failed_download",
    "rolled_back",
    "timed_out",
    "retracted",
    "reverted",
    "critical",
]
# Deferrals: entries into "deferred", exits from it, and the seconds spent there. Neither a
# failure nor finished; waiting now = deferred - deferral_ended.
DEFERRAL_COUNTERS = ["deferred", "deferral_ended", "deferred_seconds"]
EXPOSURE_COUNTERS = [
    f"{group}_{measure}"
    for group in ("treated", "control")
    for measure in ("seconds", "crashes", "reboots", "dtcs")
]
# Downloads made as a delta (docs/deltas.md), and the bytes they saved against full images.
DELTA_COUNTERS = ["delta_downloads", "delta_bytes_saved"]
ALL_COUNTERS = INSTALL_COUNTERS + EXPOSURE_COUNTERS + DEFERRAL_COUNTERS + DELTA_COUNTERS
FAILURE_COUNTERS = [
    "failed_install",
    "failed_verification",
    "failed_download",
    "rolled_back",
    "timed_out",
]


class RolloutCounter(models.Model):
    rollout = models.ForeignKey(
        "rollouts.Rollout", on_delete=models.CASCADE, related_name="counters"
    )
    stage_index = models.PositiveSmallIntegerField()
    slot = models.PositiveSmallIntegerField(default=0)
    # One BigIntegerField per counter name above (declared from the lists, not by hand).
    locals().update({name: models.BigIntegerField(default=0) for name in INSTALL_COUNTERS})
    locals().update({name: models.BigIntegerField(default=0) for name in EXPOSURE_COUNTERS})
    locals().update({name: models.BigIntegerField(default=0) for name in DEFERRAL_COUNTERS})
    locals().update({name: models.BigIntegerField(default=0) for name in DELTA_COUNTERS})

    class Meta:
        ordering = ["rollout", "stage_index", "slot"]
        constraints = [
            models.UniqueConstraint(
                fields=["rollout", "stage_index", "slot"], name="counter_one_per_stage_slot"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rollout} stage {self.stage_index} slot {self.slot}"
