"""What a person may do to a rollout: one table for the management API and the admin.

Each action names its Django permission, what it asks for (a reason, or the promotion-gate
override of a start) and the service that carries it out. The states it starts from and the
checks it runs are the lifecycle's (`ROLLOUT_LIFECYCLE` beside the model), which the service
enforces whoever calls it; `allowed` lets a page offer only the buttons that can work.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import User

from ota.errors import Forbidden
from rollouts.models import Rollout
from rollouts.models.rollouts import ROLLOUT_LIFECYCLE
from rollouts.services import rollouts as services


class ActionNotPermitted(Forbidden):
    code = "permission_denied"
    message = "You do not have permission to perform this action."


CHANGE = "rollouts.change_rollout"
APPROVE = "rollouts.approve_rollout"


@dataclass(frozen=True)
class RolloutAction:
    name: str
    label: str
    permission: str
    explanation: str
    service: Callable[..., Rollout]
    asks: str = "reason"  # "reason", "override_reason" (start) or "" (approve: nothing)

    def allowed(self, rollout: Rollout) -> bool:
        return ROLLOUT_LIFECYCLE.allows(self.name, rollout.status)

    def perform(self, rollout: Rollout, actor: User, *, reason: str = "") -> Rollout:
        """`reason`: what the person typed (for a start, why the gate may be skipped). The
        service checks the state and the action's checks; the person's permission is here."""
        if actor is None or not actor.has_perm(self.permission):
            raise ActionNotPermitted(detail={"action": self.name, "permission": self.permission})
        if self.asks:
            return self.service(rollout=rollout, actor=actor, **{self.asks: reason})
        return self.service(rollout=rollout, actor=actor)


def _action(name: str, label: str, permission: str, explanation: str, asks="reason"):
    service = getattr(services, f"rollout_{name}")
    return RolloutAction(name, label, permission, explanation, service, asks)


ROLLOUT_ACTIONS: dict[str, RolloutAction] = {
    a.name: a
    for a in (
        _action(
            "approve",
            "Approve",
            APPROVE,
            "Someone other than the author approves.",
            asks="",
        ),
        _action(
            "start",
            "Start",
            CHANGE,
            "Vehicles of the channel are offered the release.",
            asks="override_reason",
        ),
        _action("pause", "Pause", CHANGE, "No new offers until resumed."),
        _action(
            "resume",
            "Resume",
            CHANGE,
            "Offers start again. A halted rollout needs a reason.",
        ),
        _action(
            "advance",
            "Advance",
            CHANGE,
            "Move past the current stage (the last: complete).",
        ),
        _action("halt", "Halt", CHANGE, "Stop offering the release now."),
        _action(
            "abort",
            "Abort",
            CHANGE,
            "End the rollout for good.",
        ),
        _action(
            "revert",
            "Revert",
            CHANGE,
            "Send the vehicles that installed a halted release back to the previous one.",
        ),
    )
}


def rollout_actions_allowed(rollout: Rollout) -> list[RolloutAction]:
    """The actions whose starting state is the rollout's, in the table's order."""
    return [action for action in ROLLOUT_ACTIONS.values() if action.allowed(rollout)]
