"""How a rollout changes state: every service that moves one comes through `rollout_move`.

The action names where it may start from, where it leads and the checks it runs
(`ROLLOUT_LIFECYCLE` beside the model); here are the checks by name, the stamp of a first
start and the conditional update with its audit row. A path that reaches `running` runs the
start's checks because it can only get there by the start: the table has no other way.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F
from django.utils import timezone

from audit.services import audit_record
from ota.errors import Conflict, Forbidden, Malformed
from rollouts.errors import RolloutStateConflict
from rollouts.locks import lock_decisions_exclusive
from rollouts.models import Channel, Release, Rollout, RolloutStatus
from rollouts.models.rollouts import DELIVERING, ROLLOUT_LIFECYCLE
from rollouts.promotion import gate_closed_because
from rollouts.selectors import awaiting_type_approval, rollout_markets
from rollouts.services.counters import counters_prepare, totals
from rollouts.services.decisions import rollout_decisions_changed
from rollouts.services.notifications import notify_rollout
from rollouts.services.releases import four_eyes

EVALUATOR = "evaluator"


class PromotionGateClosed(Conflict):
    code = "promotion_gate_closed"
    message = "The release has not completed on the previous channel of the pipeline."


class OverrideNotAllowed(Forbidden):
    code = "override_not_allowed"
    message = "Only an approver may let a release skip the promotion gate."


class MarketApprovalMissing(Conflict):
    code = "market_approval_missing"
    message = (
        "No market of this rollout has approved the release yet: a homologation engineer "
        "approves it per market with its type-approval impact assessment."
    )


class ReasonRequired(Malformed):
    code = "reason_required"
    message = "This action needs a written reason."


# A check reads the rollout as it stands, who acts and what they wrote; it refuses with a
# domain error or answers the fields the move also sets.
Check = Callable[[Rollout, User | None, str], dict[str, Any]]


def _four_eyes(rollout: Rollout, actor: User | None, reason: str) -> dict[str, Any]:
    four_eyes(rollout, actor)
    return {"approved_by": actor}


def _market_approval(rollout: Rollout, actor: User | None, reason: str) -> dict[str, Any]:
    markets = rollout_markets(rollout)
    awaiting = awaiting_type_approval(rollout.release, markets)
    if markets and len(awaiting) == len(markets):
        raise MarketApprovalMissing(
            detail={"release": rollout.release.version, "markets": awaiting}
        )
    return {}


def _promotion_gate(rollout: Rollout, actor: User | None, reason: str) -> dict[str, Any]:
    """Passed, or overridden with a reason by someone allowed to. A revert rollout has no
    gate: it sends cars back to software they ran."""
    if rollout.reverts_id is not None:
        return {}
    previous = previous_channel(rollout.channel)
    gate = promotion_gate(rollout.release, previous) if previous else None
    if not gate:
        return {}
    if not reason.strip():
        raise PromotionGateClosed(
            detail={"release": rollout.release.version, "previous_channel": previous.name, **gate}
        )
    if actor is None or not actor.has_perm("rollouts.override_promotion_gate"):
        raise OverrideNotAllowed()
    return {"gate_override_reason": reason, "gate_overridden_by": actor}


def _reason_after_halt(rollout: Rollout, actor: User | None, reason: str) -> dict[str, Any]:
    if rollout.status == RolloutStatus.HALTED and not reason.strip():
        raise ReasonRequired(detail={"action": "resume a halted rollout"})
    return {}


CHECKS: dict[str, Check] = {
    "four_eyes": _four_eyes,
    "market_approval": _market_approval,
    "promotion_gate": _promotion_gate,
    "reason_after_halt": _reason_after_halt,
}


def rollout_move(
    rollout: Rollout,
    action: str,
    *,
    actor: User | None,
    to: str | None = None,
    reason: str = "",
    actor_label: str = "",
    audit_action: str = "",
    audit_data: dict[str, Any] | None = None,
    where: dict[str, Any] | None = None,
    **fields: Any,
) -> Rollout:
    """Carry out `action` from the state we read: its checks, then a conditional update
    (`where`: more it must still hold); zero rows means someone else won. A rollout that
    begins to deliver is stamped as started. The caller holds a transaction."""
    before = rollout.status
    to = ROLLOUT_LIFECYCLE.target(action, before, to)
    for name in ROLLOUT_LIFECYCLE.checks(action):
        fields.update(CHECKS[name](rollout, actor, reason))
    first_start = to in DELIVERING and rollout.started_at is None
    if first_start:
        now = timezone.now()
        fields.update(started_at=now, stage_index=0, stage_started_at=now)
    if to == RolloutStatus.HALTED:
        fields["halts"] = F("halts") + 1  # even if resumed since: the gate wants a clean run
    if before == RolloutStatus.RUNNING:
        lock_decisions_exclusive()  # no poll may be deciding with "running" while this commits
    updated = Rollout.objects.filter(pk=rollout.pk, status=before, **(where or {})).update(
        status=to, **fields
    )
    if updated != 1:
        raise RolloutStateConflict(
            detail={"status": "changed concurrently", "action": action, "wanted": to}
        )
    if before in DELIVERING or to in DELIVERING:
        was = (before, rollout.stage_index)
        rollout_decisions_changed(
            rollout=rollout, was=was, now=(to, fields.get("stage_index", rollout.stage_index))
        )
    if first_start:
        counters_prepare(rollout=rollout)
    if to != before and to in (RolloutStatus.HALTED, RolloutStatus.PAUSED, RolloutStatus.COMPLETED):
        notify_rollout(rollout=rollout, event=to, detail={"reason": reason})
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action=audit_action or f"rollout.{to}",
        target=rollout,
        reason=reason,
        data=audit_data if audit_data is not None else {"from": before},
    )
    rollout.refresh_from_db()
    return rollout


def previous_channel(channel: Channel) -> Channel | None:
    return Channel.objects.filter(position__lt=channel.position).order_by("-position").first()


def promotion_gate(release: Release, previous: Channel) -> dict | None:
    """None when the release may go on; otherwise why not (rollouts/promotion.py)."""
    done = Rollout.objects.filter(
        release=release, channel=previous, status=RolloutStatus.COMPLETED
    ).first()
    return gate_closed_because(
        completed=done is not None,
        halts=done.halts if done else 0,
        exposure_hours=totals(rollout=done)["treated_seconds"] / 3600 if done else 0.0,
        required_hours=settings.OTA_PROMOTION_MIN_EXPOSURE_HOURS.get(previous.name, 0),
    )
