"""The rollout lifecycle: explicit transitions, each a conditional update with an audit row."""

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.services import audit_record
from ota.errors import Conflict, Forbidden, Malformed
from rollouts.halts import OPERATOR, HaltReason, halt_description
from rollouts.install_policy import is_recall
from rollouts.locks import lock_decisions_exclusive
from rollouts.models import (
    Assignment,
    AssignmentStatus,
    Channel,
    Cohort,
    Release,
    ReleaseStatus,
    Rollout,
    RolloutStatus,
)
from rollouts.models.rollouts import ROLLOUT_TRANSITIONS
from rollouts.plans import PlanError, validate_policy, validate_stages
from rollouts.promotion import gate_closed_because
from rollouts.selectors import awaiting_type_approval, rollout_markets
from rollouts.services.counters import count, counters_prepare, leaving_deferred, totals
from rollouts.services.decisions import rollout_decisions_changed, vehicles_decisions_changed
from rollouts.services.notifications import notify_rollout
from rollouts.services.releases import OwnApproval, checked_install_policy
from rollouts.signals import AssignmentMove, announce
from signing.metadata_cache import wait_until_image_servable

# A rollout in one of these states offers, or keeps offers made: leaving or entering one
# changes decisions.
DELIVERING = (
    RolloutStatus.RUNNING,
    RolloutStatus.PAUSED,
    RolloutStatus.HALTED,
    RolloutStatus.COMPLETED,
)


class RolloutStateConflict(Conflict):
    code = "rollout_state_conflict"
    message = "The rollout is not in a state that allows this."


class ReleaseNotApproved(Conflict):
    code = "release_not_approved"
    message = "Only an approved release can be rolled out."


class RolloutExists(Conflict):
    code = "rollout_exists"
    message = "This release already has a rollout on this channel."


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


class InvalidPlan(Malformed):
    code = "invalid_plan"
    message = "The stage plan or the health policy is not valid; see detail."


class ReasonRequired(Malformed):
    code = "reason_required"
    message = "This action needs a written reason."


@transaction.atomic
def rollout_create(
    *,
    release: Release,
    channel: Channel,
    actor: Any,
    regions=(),
    models=(),
    cohort: Cohort | None = None,
    stages: list[dict] | None = None,
    policy: dict | None = None,
    install_policy: dict | None = None,
) -> Rollout:
    """A draft rollout with its stage plan (the channel's default unless given), health
    policy (the defaults, overridden where given) and install policy (None: the release's)."""
    if release.status != ReleaseStatus.APPROVED:
        raise ReleaseNotApproved(detail={"release": release.version, "status": release.status})
    try:
        plan = validate_stages(stages if stages is not None else default_stage_plan(channel.name))
        checked_policy = validate_policy(policy, settings.OTA_DEFAULT_POLICY)
    except PlanError as exc:
        raise InvalidPlan(detail=exc.problems) from None
    if install_policy is not None:
        install_policy = checked_install_policy(install_policy)
    try:
        with transaction.atomic():
            rollout = Rollout.objects.create(
                release=release,
                channel=channel,
                created_by=actor,
                regions=list(regions),
                model_names=list(models),
                cohort=cohort,
                stages=plan,
                policy=checked_policy,
                install_policy=install_policy,
                safety_recall=is_recall(
                    install_policy if install_policy is not None else release.install_policy
                ),
            )
    except IntegrityError:
        raise RolloutExists(detail={"release": release.version, "channel": channel.name}) from None
    audit_record(actor=actor, action="rollout.created", target=rollout)
    return rollout


def default_stage_plan(channel_name: str) -> list[dict]:
    """The plan a rollout on this channel gets unless it brings its own (settings)."""
    return settings.OTA_DEFAULT_STAGE_PLANS.get(channel_name, settings.OTA_FALLBACK_STAGE_PLAN)


def _transition(
    rollout: Rollout, to: str, *, actor: Any, reason: str = "", actor_label: str = "", **fields
) -> Rollout:
    """Conditional update from the state we read; zero rows means someone else won."""
    if to not in ROLLOUT_TRANSITIONS[rollout.status]:
        raise RolloutStateConflict(detail={"status": rollout.status, "wanted": to})
    if rollout.status == RolloutStatus.RUNNING:
        lock_decisions_exclusive()  # no poll may be deciding with "running" while this commits
    updated = Rollout.objects.filter(pk=rollout.pk, status=rollout.status).update(
        status=to, **fields
    )
    if updated != 1:
        raise RolloutStateConflict(detail={"status": "changed concurrently", "wanted": to})
    if rollout.status in DELIVERING or to in DELIVERING:
        rollout_decisions_changed(rollout=rollout, status=to)
    if to in (RolloutStatus.HALTED, RolloutStatus.PAUSED, RolloutStatus.COMPLETED):
        notify_rollout(rollout=rollout, event=to, detail={"reason": reason})
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action=f"rollout.{to}",
        target=rollout,
        reason=reason,
        data={"from": rollout.status},
    )
    rollout.refresh_from_db()
    return rollout


@transaction.atomic
def rollout_approve(*, rollout: Rollout, actor: Any) -> Rollout:
    if rollout.created_by_id == actor.pk:
        raise OwnApproval(detail={"author": rollout.created_by.get_username()})
    return _transition(rollout, RolloutStatus.APPROVED, actor=actor, approved_by=actor)


def rollout_start(*, rollout: Rollout, actor: Any, override_reason: str = "") -> Rollout:
    """Start delivering. The release must have completed on the previous channel without a
    halt and with enough exposure, unless an approver overrides the gate with a reason.

    Image metadata signed in the last moments is not served yet (signing/metadata_cache.py):
    the start waits for it, before taking any lock, so that no car is sent to a target the
    Image repository does not list yet."""
    wait_until_image_servable()
    return _rollout_start(rollout=rollout, actor=actor, override_reason=override_reason)


@transaction.atomic
def _rollout_start(*, rollout: Rollout, actor: Any, override_reason: str) -> Rollout:
    markets = rollout_markets(rollout)
    awaiting = awaiting_type_approval(rollout.release, markets)
    if markets and len(awaiting) == len(markets):
        raise MarketApprovalMissing(
            detail={"release": rollout.release.version, "markets": awaiting}
        )
    previous = previous_channel(rollout.channel)
    now = timezone.now()
    fields: dict[str, Any] = {"started_at": now, "stage_index": 0, "stage_started_at": now}
    gate = promotion_gate(rollout.release, previous) if previous else None
    if gate:
        if not override_reason.strip():
            raise PromotionGateClosed(
                detail={
                    "release": rollout.release.version,
                    "previous_channel": previous.name,
                    **gate,
                }
            )
        if not actor.has_perm("rollouts.override_promotion_gate"):
            raise OverrideNotAllowed()
        fields.update(gate_override_reason=override_reason, gate_overridden_by=actor)
    rollout = _transition(
        rollout, RolloutStatus.RUNNING, actor=actor, reason=override_reason, **fields
    )
    counters_prepare(rollout=rollout)
    return rollout


@transaction.atomic
def rollout_pause(*, rollout: Rollout, actor: Any, reason: str = "") -> Rollout:
    return _transition(rollout, RolloutStatus.PAUSED, actor=actor, reason=reason)


@transaction.atomic
def rollout_resume(*, rollout: Rollout, actor: Any, reason: str = "") -> Rollout:
    if rollout.status == RolloutStatus.HALTED and not reason.strip():
        raise ReasonRequired(detail={"action": "resume a halted rollout"})
    return _transition(rollout, RolloutStatus.RUNNING, actor=actor, reason=reason, halt_reason=None)


EVALUATOR = "evaluator"


@transaction.atomic
def rollout_halt(*, rollout: Rollout, actor: Any, reason: str = "") -> Rollout:
    """A person halts the rollout; the policy's graded response applies as for any halt."""
    return rollout_halt_for(
        rollout=rollout,
        actor=actor,
        note=reason,
        halt_reason=HaltReason(
            OPERATOR,
            rollout.stage_index,
            value=reason,
            sample={"by": actor.get_username() if actor else EVALUATOR},
        ).as_json(),
    )


@transaction.atomic
def rollout_halt_for(
    *, rollout: Rollout, halt_reason: dict[str, Any], actor: Any = None, note: str = ""
) -> Rollout:
    """Halt with a reason that names the metric, stage, value, bound, threshold and sample,
    then apply the policy's graded response (`on_halt`)."""
    rollout = _transition(
        rollout,
        RolloutStatus.HALTED,
        actor=actor,
        actor_label="" if actor else EVALUATOR,
        reason=note or halt_description(halt_reason, rollout),
        halt_reason=halt_reason,
    )
    Rollout.objects.filter(pk=rollout.pk).update(halts=F("halts") + 1)
    if rollout.policy.get("on_halt") in ("retract", "revert"):
        retract_unstarted(rollout=rollout)
    if rollout.policy.get("on_halt") == "revert":
        from rollouts.services.revert import revert_start

        rollout.refresh_from_db()
        revert_start(rollout=rollout, actor=actor)
    return rollout


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


@transaction.atomic
def rollout_abort(*, rollout: Rollout, actor: Any, reason: str = "") -> Rollout:
    return _transition(
        rollout, RolloutStatus.ABORTED, actor=actor, reason=reason, finished_at=timezone.now()
    )


@transaction.atomic
def rollout_advance(
    *, rollout: Rollout, actor: Any, reason: str = "", actor_label: str = ""
) -> Rollout:
    """Move to the next stage (more vehicles); past the last stage the rollout completes.
    Conditional on the stage we read, so two evaluators cannot advance twice."""
    if rollout.status != RolloutStatus.RUNNING:
        raise RolloutStateConflict(detail={"status": rollout.status, "wanted": "advance"})
    stages = rollout.stages or [{"percent": 100}]
    if rollout.stage_index + 1 >= len(stages):
        return _transition(
            rollout,
            RolloutStatus.COMPLETED,
            actor=actor,
            reason=reason,
            actor_label=actor_label,
            finished_at=timezone.now(),
        )
    updated = Rollout.objects.filter(
        pk=rollout.pk, status=RolloutStatus.RUNNING, stage_index=rollout.stage_index
    ).update(stage_index=rollout.stage_index + 1, stage_started_at=timezone.now())
    if updated != 1:
        raise RolloutStateConflict(detail={"status": "changed concurrently", "wanted": "advance"})
    rollout_decisions_changed(rollout=rollout)
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="rollout.advanced",
        target=rollout,
        reason=reason,
        data={
            "from_stage": rollout.stage_index,
            "to_stage": rollout.stage_index + 1,
            "percent": stages[rollout.stage_index + 1]["percent"],
        },
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


def rollout_revert(*, rollout: Rollout, actor: Any, reason: str = "") -> Rollout:
    """A person asks for the revert of a halted rollout (see services/revert.py)."""
    from rollouts.services.revert import revert_start

    revert_start(rollout=rollout, actor=actor, reason=reason)
    rollout.refresh_from_db()
    return rollout
