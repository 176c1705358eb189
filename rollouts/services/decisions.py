"""What could change a vehicle's decision, kept as cheap version numbers.

A poll whose images are unchanged decides nothing anew while two numbers still hold: its
channel's `decision_version` and its own `inputs_version` (both remembered on the vehicle at
its last decision). Anything that can change what a vehicle is offered bumps one of them in
the same transaction as the change, through one of the calls below. A channel's bump is
logged with the cars it can concern (rollouts/reach.py): a car it cannot concern goes on
polling idle, so a change costs what it changes, not what the channel holds.

- `rollout_decisions_changed`: a rollout moved (started, advanced, paused, resumed, halted,
  aborted, completed). On its channel (every channel, for a safety recall) it reaches the
  cars whose bucket lies between the shares offered before and after; on completion every
  car of the earlier channels too (a release completed on a later channel is offered to
  them). When the rollout starts or stops making offers, the cars it has an assignment for
  are woken one by one after the commit (`wake_assigned`).
- `rollout_offer_changed`: what a rollout offers changed (its cohort's filter, a market's
  approval of its release, a bundle copy or a delta): the cars it offers to decide again.
- `channels_decisions_changed`: something every vehicle of these channels may see differently.
- `vehicles_decisions_changed`: something about these vehicles only (an assignment moved by an
  event, a time-out, a static cohort's members, a channel move).

Tests run every idle poll's decision in full as well and fail on any difference
(`OTA_VERIFY_IDLE_POLLS`), so a change that forgets to call one of these, or reaches too few
cars, shows at once.
"""

from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django_q.tasks import async_task

from rollouts.models import Assignment, Channel, Rollout, RolloutStatus, Vehicle
from rollouts.models.rollouts import OFFERING
from rollouts.reach import EVERYONE, Reach, logged

BATCH = 5000
WAKE_BATCHES = 100  # a task's share: half a million cars, well inside its time-out
# A paused or halted rollout keeps the offers it made (to the cars that have not finished).
KEEPING = (RolloutStatus.PAUSED, RolloutStatus.HALTED)


def channels_decisions_changed(*, channel_ids: Iterable[int], reach: Reach = EVERYONE) -> None:
    ids = sorted(set(channel_ids))  # a fixed order: concurrent bumps never deadlock
    if not ids or reach.empty:
        return
    channels = Channel.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    for pk, version, log in channels.values_list("pk", "decision_version", "decision_changes"):
        Channel.objects.filter(pk=pk).update(
            decision_version=version + 1,
            decision_changes=logged(log, reach, version=version + 1),
        )


def vehicles_decisions_changed(*, vehicle_ids: Iterable[int]) -> None:
    ids = sorted(set(vehicle_ids))
    for start in range(0, len(ids), BATCH):
        Vehicle.objects.filter(pk__in=ids[start : start + BATCH]).update(
            inputs_version=F("inputs_version") + 1
        )


def offered_percent(rollout: Rollout, status: str, stage_index: int) -> float:
    """The share of the rollout's scope it makes new offers to in this state (by bucket)."""
    if status not in OFFERING or rollout.only_assigned:
        return 0.0
    return rollout.percent_at(status, stage_index)


def _offering(status: str) -> str:
    return "new" if status in OFFERING else "kept" if status in KEEPING else "none"


def rollout_decisions_changed(
    *, rollout: Rollout, was: tuple[str, int], now: tuple[str, int]
) -> None:
    """The rollout moved from `was` to `now`, each (status, stage index)."""
    before, after = offered_percent(rollout, *was), offered_percent(rollout, *now)
    offering = _offering(was[0]), _offering(now[0])
    if offering == ("kept", "none"):
        # Aborted while keeping its offers: they go, from every car of its stages.
        before = 0.0 if rollout.only_assigned else rollout.percent_at(*was)
    reach = Reach(rollout.salt, min(before, after), max(before, after))
    if offering == ("new", "kept"):
        # Paused or halted: no new offers, and those made are kept. A car of the bucket
        # without an assignment that decided since the stage began was out of the rollout's
        # scope (else it would have one); one that did not takes the full decision anyway.
        reach = Reach(rollout.salt, 0.0, 0.0)
    elif rollout.only_assigned and offering[0] != "none" == offering[1]:
        # A revert's cars are no bucket: its abort (rare) reaches the channel. Its start
        # reaches its cars one by one (services/revert.py), its pause or resume after commit.
        reach = EVERYONE
    completes = now[0] == RolloutStatus.COMPLETED != was[0]
    _reach_channels(rollout, reach, earlier=EVERYONE if completes else None)
    if offering[0] != offering[1]:
        # Cars that finished with it (an older release may now apply) or moved to another
        # channel (a kept offer follows them): their answer changes too, but never towards
        # offering it anew, so they are woken after the commit, in batches, outside the
        # decisions' lock. Until then they keep what they had.
        pk = rollout.pk
        transaction.on_commit(lambda: async_task("rollouts.tasks.wake_assigned", pk))


def rollout_offer_changed(*, rollout: Rollout, regions: Iterable[str] = ()) -> None:
    """What the rollout offers changed (in `regions` only, if given): the cars it offers to
    (and on completion, those of the earlier channels) decide again."""
    if rollout.status not in (*OFFERING, *KEEPING):
        return  # it offers nothing, now or kept
    markets = tuple(sorted(regions))
    # A paused or halted rollout's kept offers are its stages' cars too.
    reach = Reach(rollout.salt, 0.0, rollout.current_percent, markets)
    if rollout.only_assigned:
        reach = Reach(regions=markets)
    completed = rollout.status == RolloutStatus.COMPLETED
    _reach_channels(rollout, reach, earlier=Reach(regions=markets) if completed else None)


def _reach_channels(rollout: Rollout, reach: Reach, *, earlier: Reach | None) -> None:
    """`reach` on the rollout's channel (every channel, for a safety recall), and `earlier` on
    the channels before it in the pipeline, which a completed release is offered to."""
    everywhere = Channel.objects.values_list("pk", flat=True)
    ids = everywhere if rollout.safety_recall else [rollout.channel_id]
    channels_decisions_changed(channel_ids=ids, reach=reach)
    if earlier is not None and not rollout.safety_recall:
        before = Channel.objects.filter(position__lt=rollout.channel.position)
        channels_decisions_changed(channel_ids=before.values_list("pk", flat=True), reach=earlier)


def wake_assigned(*, rollout_id: int, after: int = 0, batches: int = WAKE_BATCHES) -> int:
    """Every car with an assignment of the rollout (from vehicle id `after` on) decides at its
    next poll: batches by the (rollout, vehicle) index, each its own short transaction. After
    `batches` of them the rest goes on in a task of its own, so that no task outlives the
    queue's time-out. Returns how many this call woke."""
    woken = 0
    for _ in range(batches):
        ids = list(
            Assignment.objects.filter(rollout_id=rollout_id, vehicle_id__gt=after)
            .order_by("vehicle_id")
            .values_list("vehicle_id", flat=True)[:BATCH]
        )
        if not ids:
            return woken
        with transaction.atomic():
            Vehicle.objects.filter(pk__in=ids).update(inputs_version=F("inputs_version") + 1)
        woken, after = woken + len(ids), ids[-1]
    async_task("rollouts.tasks.wake_assigned", rollout_id, after)
    return woken


def release_decisions_changed(*, release_id: int, regions: Iterable[str] = ()) -> None:
    """The release was approved for a market: the cars its rollouts reach there decide again."""
    rollouts = Rollout.objects.filter(
        status__in=(*OFFERING, *KEEPING), release_id=release_id
    ).select_related("channel")
    for rollout in rollouts:
        rollout_offer_changed(rollout=rollout, regions=regions)


def bundle_decisions_changed(*, bundle_id: int, regions: Iterable[str] = ()) -> None:
    """A bundle's copy in a market was verified (`regions`: that market), or a delta to it
    became ready: the cars its rollouts offer to decide again (offered it now, or named the
    delta)."""
    rollouts = (
        Rollout.objects.filter(
            status__in=(*OFFERING, *KEEPING), release__items__bundle_id=bundle_id
        )
        .select_related("channel")
        .distinct()
    )
    for rollout in rollouts:
        rollout_offer_changed(rollout=rollout, regions=regions)
