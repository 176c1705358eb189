"""What a person may do to a rollout: one table for the management API and the admin.

Each action names its Django permission, the states it starts from, what it asks for (a
reason, or the promotion-gate override of a start) and the service that carries it out. The
services check the state again under their locks; `allowed_from` lets a page offer only the
buttons that can work.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rollouts.models import Rollout, RolloutStatus
from rollouts.services import rollouts as services

CHANGE = "rollouts.change_rollout"
APPROVE = "rollouts.approve_rollout"


@dataclass(frozen=True)
class RolloutAction:
    name: str
    label: str
    permission: str
    explanation: str
    allowed_from: frozenset[str]
    service: Callable[..., Rollout]
    asks: str = "reason"  # "reason", "override_reason" (start) or "" (approve: nothing)

    def allowed(self, rollout: Rollout) -> bool:
        return rollout.status in self.allowed_from

    def perform(self, rollout: Rollout, actor: Any, *, reason: str = "") -> Rollout:
        """`reason`: what the person typed (for a start, why the gate may be skipped)."""
        if self.asks:
            return self.service(rollout=rollout, actor=actor, **{self.asks: reason})
        return self.service(rollout=rollout, actor=actor)


def _action(name: str, label: str, permission: str, explanation: str, *states, asks="reason"):
    service = getattr(services, f"rollout_{name}")
    return RolloutAction(name, label, permission, explanation, frozenset(states), service, asks)


S = RolloutStatus
ROLLOUT_ACTIONS: dict[str, RolloutAction] = {
    a.name: a
    for a in (
        _action(
            "approve",
            "Approve",
            APPROVE,
            "Someone other than the author approves.",
            S.DRAFT,
            asks="",
        ),
        _action(
            "start",
            "Start",
            CHANGE,
            "Vehicles of the channel are offered the release.",
            S.APPROVED,
            asks="override_reason",
        ),
        _action("pause", "Pause", CHANGE, "No new offers until resumed.", S.RUNNING),
        _action(
            "resume",
            "Resume",
            CHANGE,
            "Offers start again. A halted rollout needs a reason.",
            S.PAUSED,
            S.HALTED,
        ),
        _action(
            "advance",
            "Advance",
            CHANGE,
            "Move past the current stage (the last: complete).",
            S.RUNNING,
        ),
        _action("halt", "Halt", CHANGE, "Stop offering the release now.", S.RUNNING, S.PAUSED),
        _action(
            "abort",
            "Abort",
            CHANGE,
            "End the rollout for good.",
            S.DRAFT,
            S.APPROVED,
            S.RUNNING,
            S.PAUSED,
            S.HALTED,
        ),
        _action(
            "revert",
            "Revert",
            CHANGE,
            "Send the vehicles that installed a halted release back to the previous one.",
            S.HALTED,
        ),
    )
}


def rollout_actions_allowed(rollout: Rollout) -> list[RolloutAction]:
    """The actions whose starting state is the rollout's, in the table's order."""
    return [action for action in ROLLOUT_ACTIONS.values() if action.allowed(rollout)]
