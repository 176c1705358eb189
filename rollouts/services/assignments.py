"""Moving many assignments of one rollout at once (a halt's retraction, time-outs, a revert),
each counted in its own stage's counter."""

from django.utils import timezone

from rollouts.models import Assignment, AssignmentStatus, Rollout
from rollouts.services.counters import count, leaving_deferred
from rollouts.services.decisions import vehicles_decisions_changed
from rollouts.signals import AssignmentMove, announce


def retract_unstarted(*, rollout: Rollout) -> int:
    """Vehicles offered the release that have not started lose the offer at their next poll."""
    unstarted = Assignment.objects.filter(rollout=rollout, status=AssignmentStatus.OFFERED)
    return move_by_stage(
        rollout, unstarted, AssignmentStatus.RETRACTED, "retracted", timezone.now()
    )


def move_by_stage(rollout: Rollout, assignments, to: str, counter: str, now) -> int:
    """Move assignments and count them in their own stage's counter, exactly."""
    vehicles_decisions_changed(vehicle_ids=assignments.values_list("vehicle_id", flat=True))
    moved = 0
    stages = set(assignments.values_list("stage_index", flat=True).distinct())
    for stage_index in stages:
        in_stage = assignments.filter(stage_index=stage_index)
        waited: dict[str, int] = {}
        for deferred_at in in_stage.filter(status=AssignmentStatus.DEFERRED).values_list(
            "deferred_at", flat=True
        ):
            for name, amount in leaving_deferred("deferred", deferred_at, now).items():
                waited[name] = waited.get(name, 0) + amount
        vehicle_ids = list(in_stage.values_list("vehicle_id", flat=True))
        n = in_stage.update(status=to, finished_at=now)
        announce([AssignmentMove(v, rollout.pk, to, now) for v in vehicle_ids])
        count(rollout_id=rollout.pk, stage_index=stage_index, **{counter: n}, **waited)
        moved += n
    return moved
