"""What `rollouts` announces to the apps above it, which it never imports (compliance keeps
the evidence of every offer and outcome from these)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.dispatch import Signal


@dataclass(frozen=True)
class AssignmentMove:
    """A vehicle's assignment in a rollout entered `status` ("offered" when it is made)."""

    vehicle_id: int
    rollout_id: int
    status: str
    at: datetime
    reason: str = ""


# Sent with `moves` (a list of AssignmentMove) inside the transaction that made them, so that
# what a receiver writes is stored with them or not at all; `rollouts`: those of the moves the
# sender holds already, so that a receiver on the poll path need not read them again.
assignments_moved = Signal()


def announce(moves: list[AssignmentMove], *, rollouts: Iterable = ()) -> None:
    if moves:
        assignments_moved.send(sender=AssignmentMove, moves=moves, rollouts=tuple(rollouts))
