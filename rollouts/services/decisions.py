"""What could change a vehicle's decision, kept as cheap version numbers.

A poll whose images are unchanged decides nothing anew while two numbers still hold: its
channel's `decision_version` and its own `inputs_version` (both remembered on the vehicle at
its last decision). Anything that can change what a vehicle is offered bumps one of them in
the same transaction as the change, through one of the calls below:

- `rollout_decisions_changed`: a rollout started, advanced, paused, resumed, halted, aborted,
  completed, or one was created running (a revert). Its channel's vehicles decide again; on
  completion so do those of every earlier channel of the pipeline (a release completed on a
  later channel is offered to them too); a safety recall's reaches every channel; and so does
  any vehicle with an open assignment in it that has since moved to another channel.
- `channels_decisions_changed`: something every vehicle of these channels may see differently
  (a cohort's filter that their rollouts use).
- `bundle_decisions_changed`: a bundle being offered got a verified copy in a market's own
  storage (its cars may now be offered it), or a delta to it became ready (the Director names
  it to the cars that run its source).
- `vehicles_decisions_changed`: something about these vehicles only (an assignment moved by an
  event, a time-out, a static cohort's members, a channel move).

Tests run every idle poll's decision in full as well and fail on any difference
(`OTA_VERIFY_IDLE_POLLS`), so a change that forgets to call one of these shows at once.
"""

from collections.abc import Iterable

from django.db.models import F

from rollouts.models import Assignment, Channel, Rollout, RolloutStatus, Vehicle
from rollouts.models.rollouts import SETTLEABLE


def channels_decisions_changed(*, channel_ids: Iterable[int]) -> None:
    ids = sorted(set(channel_ids))  # a fixed order: concurrent bumps never deadlock
    if ids:
        Channel.objects.filter(pk__in=ids).update(decision_version=F("decision_version") + 1)


def vehicles_decisions_changed(*, vehicle_ids: Iterable[int]) -> None:
    ids = sorted(set(vehicle_ids))
    for start in range(0, len(ids), 5000):
        Vehicle.objects.filter(pk__in=ids[start : start + 5000]).update(
            inputs_version=F("inputs_version") + 1
        )


def rollout_decisions_changed(*, rollout: Rollout, status: str | None = None) -> None:
    """`status`: the rollout's status after the change, when the caller has not saved it yet
    on the object it passes."""
    status = status or rollout.status
    channel = Channel.objects.only("position").get(pk=rollout.channel_id)
    reached = Channel.objects.filter(pk=channel.pk)
    if rollout.safety_recall:
        reached = Channel.objects.all()
    elif status == RolloutStatus.COMPLETED:
        reached = Channel.objects.filter(position__lte=channel.position)
    channels_decisions_changed(channel_ids=reached.values_list("pk", flat=True))
    if rollout.safety_recall:
        return  # every channel decides again: no vehicle needs its own bump
    elsewhere = (
        Assignment.objects.filter(rollout_id=rollout.pk, status__in=SETTLEABLE)
        .exclude(vehicle__channel_id=rollout.channel_id)
        .values_list("vehicle_id", flat=True)
    )
    vehicles_decisions_changed(vehicle_ids=elsewhere)


def release_decisions_changed(*, release_id: int) -> None:
    """The release was approved for a market: the cars its rollouts reach decide again."""
    rollouts = Rollout.objects.filter(
        status__in=(RolloutStatus.RUNNING, RolloutStatus.PAUSED, RolloutStatus.COMPLETED),
        release_id=release_id,
    )
    for rollout in rollouts:
        rollout_decisions_changed(rollout=rollout)


def bundle_decisions_changed(*, bundle_id: int) -> None:
    """A bundle's copy in a market was verified, or a delta to it became ready: the cars its
    rollouts offer to decide again (offered it now, or named the delta)."""
    rollouts = Rollout.objects.filter(
        status__in=(RolloutStatus.RUNNING, RolloutStatus.PAUSED, RolloutStatus.COMPLETED),
        release__items__bundle_id=bundle_id,
    ).distinct()
    for rollout in rollouts:
        rollout_decisions_changed(rollout=rollout)
