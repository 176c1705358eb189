"""What people and the evaluator do to rollouts: create, then the actions of the lifecycle
table (`ROLLOUT_LIFECYCLE`), each carried out by `transitions.rollout_move`."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from ota.errors import Conflict, Malformed
from rollouts.halts import OPERATOR, HaltReason, halt_description
from rollouts.install_policy import is_recall
from rollouts.models import Channel, Cohort, Release, ReleaseStatus, Rollout, RolloutStatus
from rollouts.plans import PlanError, validate_policy, validate_stages
from rollouts.services.assignments import retract_unstarted
from rollouts.services.releases import checked_install_policy
from rollouts.services.revert import revert_start
from rollouts.services.transitions import EVALUATOR, rollout_move
from signing.metadata_cache import wait_until_image_servable


class ReleaseNotApproved(Conflict):
    code = "release_not_approved"
    message = "Only an approved release can be rolled out."


class RolloutExists(Conflict):
    code = "rollout_exists"
    message = "This release already has a rollout on this channel."


class InvalidPlan(Malformed):
    code = "invalid_plan"
    message = "The stage plan or the health policy is not valid; see detail."


@transaction.atomic
def rollout_create(
    *,
    release: Release,
    channel: Channel,
    actor: User,
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


@transaction.atomic
def rollout_approve(*, rollout: Rollout, actor: User) -> Rollout:
    return rollout_move(rollout, "approve", actor=actor)


def rollout_start(*, rollout: Rollout, actor: User | None, override_reason: str = "") -> Rollout:
    """Start delivering. The release must have completed on the previous channel without a
    halt and with enough exposure, unless an approver overrides the gate with a reason.

    Image metadata signed in the last moments is not served yet (signing/metadata_cache.py):
    the start waits for it, before taking any lock, so that no car is sent to a target the
    Image repository does not list yet."""
    wait_until_image_servable()
    with transaction.atomic():
        return rollout_move(rollout, "start", actor=actor, reason=override_reason)


@transaction.atomic
def rollout_pause(
    *, rollout: Rollout, actor: User | None, reason: str = "", actor_label: str = ""
) -> Rollout:
    return rollout_move(rollout, "pause", actor=actor, reason=reason, actor_label=actor_label)


@transaction.atomic
def rollout_resume(*, rollout: Rollout, actor: User | None, reason: str = "") -> Rollout:
    """Offers start again; a halted rollout needs a reason. Never a first start: a rollout
    that was not started is refused (the start has checks of its own)."""
    return rollout_move(rollout, "resume", actor=actor, reason=reason, halt_reason=None)


@transaction.atomic
def rollout_halt(*, rollout: Rollout, actor: User | None, reason: str = "") -> Rollout:
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
    *, rollout: Rollout, halt_reason: dict[str, Any], actor: User | None = None, note: str = ""
) -> Rollout:
    """Halt with a reason that names the metric, stage, value, bound, threshold and sample,
    then apply the policy's graded response (`on_halt`)."""
    rollout = rollout_move(
        rollout,
        "halt",
        actor=actor,
        actor_label="" if actor else EVALUATOR,
        reason=note or halt_description(halt_reason, rollout),
        halt_reason=halt_reason,
    )
    if rollout.policy.get("on_halt") in ("retract", "revert"):
        retract_unstarted(rollout=rollout)
    if rollout.policy.get("on_halt") == "revert":
        revert_start(rollout=rollout, actor=actor)
    return rollout


@transaction.atomic
def rollout_abort(*, rollout: Rollout, actor: User | None, reason: str = "") -> Rollout:
    return rollout_move(rollout, "abort", actor=actor, reason=reason, finished_at=timezone.now())


@transaction.atomic
def rollout_advance(
    *, rollout: Rollout, actor: User | None, reason: str = "", actor_label: str = ""
) -> Rollout:
    """Move to the next stage (more vehicles); past the last stage the rollout completes.
    Conditional on the stage we read, so two evaluators cannot advance twice."""
    stages = rollout.stages or [{"percent": 100}]
    said = {"actor": actor, "reason": reason, "actor_label": actor_label}
    if rollout.stage_index + 1 >= len(stages):
        return rollout_move(
            rollout, "advance", to=RolloutStatus.COMPLETED, finished_at=timezone.now(), **said
        )
    return rollout_move(
        rollout,
        "advance",
        to=RolloutStatus.RUNNING,
        where={"stage_index": rollout.stage_index},
        stage_index=rollout.stage_index + 1,
        stage_started_at=timezone.now(),
        audit_action="rollout.advanced",
        audit_data={
            "from_stage": rollout.stage_index,
            "to_stage": rollout.stage_index + 1,
            "percent": stages[rollout.stage_index + 1]["percent"],
        },
        **said,
    )


def rollout_revert(*, rollout: Rollout, actor: User | None, reason: str = "") -> Rollout:
    """A person asks for the revert of a halted rollout (see services/revert.py)."""
    revert_start(rollout=rollout, actor=actor, reason=reason)
    rollout.refresh_from_db()
    return rollout
