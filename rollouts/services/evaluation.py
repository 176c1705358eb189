"""The evaluator: reads a rollout's counters, applies its health policy, and advances,
waits, pauses or halts. Every run is stored with its numbers.

Safe when two workers run at once: each evaluation locks the rollout row, and every state
change is a conditional update.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from rollouts import install_policy
from rollouts.halts import (
    CRITICAL_SIGNAL,
    INSTALL_FAILURE_RATE,
    RATE_RATIO_SUFFIX,
    HaltReason,
)
from rollouts.health import Verdict, policy_checks
from rollouts.models import (
    Assignment,
    AssignmentStatus,
    Evaluation,
    Outcome,
    Rollout,
    RolloutStatus,
)
from rollouts.services import counters
from rollouts.services.assignments import move_by_stage
from rollouts.services.notifications import notify_rollout
from rollouts.services.rollouts import rollout_advance, rollout_halt_for, rollout_pause
from rollouts.services.transitions import EVALUATOR

logger = logging.getLogger(__name__)

STARTED = (AssignmentStatus.DOWNLOADING, AssignmentStatus.INSTALLING)


# --- halting ----------------------------------------------------------------------------------


@transaction.atomic
def halt_on_critical(*, rollout: Rollout, signal: str, stage_index: int, vin: str) -> None:
    """A critical event type, error code or DTC halts the rollout at once."""
    locked = Rollout.objects.select_for_update(no_key=True).get(pk=rollout.pk)
    if locked.status not in (RolloutStatus.RUNNING, RolloutStatus.PAUSED):
        return
    rollout_halt_for(
        rollout=locked,
        halt_reason=HaltReason(
            CRITICAL_SIGNAL, stage_index, value=signal, threshold="any", sample={"vin": vin}
        ).as_json(),
    )


# --- evaluating -------------------------------------------------------------------------------


def evaluate_running(*, now: datetime | None = None) -> list[Evaluation]:
    """Evaluate every running rollout (the scheduled job). Each in its own transaction: one
    that fails is logged, audited and stored as an `error` evaluation, and the others are
    evaluated still (one broken rollout must not stop the automatic halts of all)."""
    ids = list(Rollout.objects.filter(status=RolloutStatus.RUNNING).values_list("pk", flat=True))
    return [rollout_evaluate_or_report(rollout_id=rollout_id, now=now) for rollout_id in ids]


def rollout_evaluate_or_report(*, rollout_id: int, now: datetime | None = None) -> Evaluation:
    """The evaluation, or an `error` one that says why there is none."""
    try:
        return rollout_evaluate(rollout_id=rollout_id, now=now)
    except Exception as exc:
        logger.exception("Evaluating rollout %s failed", rollout_id)
        return _evaluation_failed(rollout_id=rollout_id, now=now, error=exc)


@transaction.atomic
def _evaluation_failed(*, rollout_id: int, now: datetime | None, error: Exception) -> Evaluation:
    rollout = Rollout.objects.get(pk=rollout_id)
    why = f"{type(error).__name__}: {error}"[:2000]
    audit_record(
        actor=None,
        actor_label=EVALUATOR,
        action="rollout.evaluation_failed",
        target=rollout,
        reason=why,
    )
    return Evaluation.objects.create(
        rollout=rollout,
        at=now or timezone.now(),
        stage_index=rollout.stage_index,
        outcome=Outcome.ERROR,
        numbers={"error": why},
        reason={"text": f"not evaluated: {why}"},
    )


def rollout_evaluate(*, rollout_id: int, now: datetime | None = None) -> Evaluation:
    """Time out stale installs (in batches, before the rollout's lock), then decide under it."""
    now = now or timezone.now()
    rollout = Rollout.objects.only("status", "policy").get(pk=rollout_id)
    timed_out = 0
    if rollout.status == RolloutStatus.RUNNING:
        timed_out = time_out_stale(rollout=rollout, now=now)
    return _evaluate(rollout_id=rollout_id, now=now, timed_out=timed_out)


@transaction.atomic
def _evaluate(*, rollout_id: int, now: datetime, timed_out: int) -> Evaluation:
    # NO KEY UPDATE: polls inserting assignments (a key-share lock on this row) are not blocked.
    rollout = Rollout.objects.select_for_update(no_key=True).get(pk=rollout_id)
    if rollout.status != RolloutStatus.RUNNING:
        return Evaluation.objects.create(
            rollout=rollout,
            at=now,
            stage_index=rollout.stage_index,
            outcome=Outcome.SKIPPED,
            numbers={"status": rollout.status},
        )
    policy = rollout.policy
    totals = counters.totals(rollout=rollout)
    failure, health = policy_checks(totals, policy)
    stage = rollout.stages[rollout.stage_index]
    in_stage = now - (rollout.stage_started_at or now)
    # A recall approved to skip soak waits advances once its failure rate is proven low;
    # every halt rule still holds.
    skip_soak = install_policy.skips_soak(rollout.effective_install_policy)
    soaked = skip_soak or in_stage >= timedelta(minutes=stage["min_soak_minutes"])
    overdue = in_stage >= timedelta(minutes=stage["max_duration_minutes"])
    numbers = {
        "counters": totals,
        "timed_out_now": timed_out,
        "failure_rate": {
            "verdict": failure.verdict,
            "value": failure.rate.value,
            "lower": failure.rate.lower,
            "upper": failure.rate.upper,
            "failed": failure.failed,
            "finished": failure.finished,
        },
        "health": {
            m: {
                "verdict": h.verdict,
                "ratio": h.ratio.value,
                "lower": h.ratio.lower,
                "upper": None if h.ratio.upper == float("inf") else h.ratio.upper,
                "treated_hours": h.treated_hours,
                "control_hours": h.control_hours,
            }
            for m, h in health.items()
        },
        "stage": {
            "index": rollout.stage_index,
            **stage,
            "minutes_in_stage": in_stage.total_seconds() / 60,
            "soaked": soaked,
            "soak_skipped": skip_soak,
            "overdue": overdue,
        },
    }

    outcome, reason = _decide(rollout, totals, failure, health, soaked, overdue, skip_soak)
    if outcome == Outcome.HALT:
        rollout_halt_for(rollout=rollout, halt_reason=reason)
    elif outcome in (Outcome.ADVANCE, Outcome.COMPLETE):
        rollout = rollout_advance(
            rollout=rollout, actor=None, actor_label=EVALUATOR, reason="healthy after soak"
        )
    elif outcome == Outcome.PAUSE:
        rollout_pause(rollout=rollout, actor=None, actor_label=EVALUATOR, reason=reason["text"])
    elif outcome == Outcome.AWAIT_APPROVAL and not _asked_already(rollout):
        notify_rollout(rollout=rollout, event="gate_waiting", detail={"stage": rollout.stage_index})
        audit_record(
            actor=None,
            actor_label=EVALUATOR,
            action="rollout.gate_waiting",
            target=rollout,
            data={"stage": rollout.stage_index},
        )
    return Evaluation.objects.create(
        rollout=rollout,
        at=now,
        stage_index=numbers["stage"]["index"],
        outcome=outcome,
        numbers=numbers,
        reason=reason,
    )


def _decide(rollout, totals, failure, health, soaked: bool, overdue: bool, skip_soak: bool):
    policy, index = rollout.policy, rollout.stage_index
    if totals["critical"]:
        return Outcome.HALT, HaltReason(
            CRITICAL_SIGNAL,
            index,
            value=totals["critical"],
            threshold="any",
            sample={"finished": totals["finished"]},
        ).as_json()
    if failure.verdict == Verdict.UNHEALTHY:
        return Outcome.HALT, HaltReason(
            INSTALL_FAILURE_RATE,
            index,
            value=round(failure.rate.value, 4),
            bound=round(failure.rate.lower, 4),
            threshold=policy["max_failure_rate"],
            sample={"failed": failure.failed, "finished": failure.finished},
        ).as_json()
    for metric, check in health.items():
        if check.verdict == Verdict.UNHEALTHY:
            return Outcome.HALT, HaltReason(
                f"{metric}{RATE_RATIO_SUFFIX}",
                index,
                value=None if check.ratio.value is None else round(check.ratio.value, 3),
                bound=round(check.ratio.lower, 3),
                threshold=policy["max_rate_ratio"],
                sample={
                    "treated_events": totals[f"treated_{metric}"],
                    "treated_hours": round(check.treated_hours, 1),
                    "control_events": totals[f"control_{metric}"],
                    "control_hours": round(check.control_hours, 1),
                },
            ).as_json()
    # Health comparisons need hours of driving, the soak a recall skips: none of them has
    # proven harm (that halted above), which is what a recall waits for.
    healthy = failure.verdict == Verdict.HEALTHY and (
        skip_soak or all(h.verdict == Verdict.HEALTHY for h in health.values())
    )
    last = index + 1 >= len(rollout.stages)
    if soaked and healthy:
        if rollout.stages[index]["gate"] == "manual":
            return Outcome.AWAIT_APPROVAL, None
        return (Outcome.COMPLETE if last else Outcome.ADVANCE), None
    waiting = deferrals_holding_up(totals)
    if waiting:
        # Cars waiting for their install windows or conditions: neither failures nor an
        # inconclusive stage, so no pause past the stage's maximum duration either.
        return Outcome.WAIT, {
            "text": f"{waiting} cars wait for their install window or conditions (deferred): "
            "not failures; the stage goes on once they install",
            "deferred": waiting,
        }
    if overdue:
        return Outcome.PAUSE, {
            "text": f"stage {index} inconclusive past its maximum duration; "
            "a person decides whether to advance, wait or halt"
        }
    return Outcome.WAIT, None


def deferrals_holding_up(totals: dict[str, int]) -> int:
    """How many cars wait by deferral, when they are at least half of the unfinished
    installs (0 otherwise): what holds the stage up is then their waiting."""
    waiting = totals["deferred_now"]
    unfinished = totals["offered"] - totals["finished"] - totals["retracted"] - totals["reverted"]
    return waiting if waiting and 2 * waiting >= unfinished else 0


def _asked_already(rollout: Rollout) -> bool:
    return Evaluation.objects.filter(
        rollout=rollout, stage_index=rollout.stage_index, outcome=Outcome.AWAIT_APPROVAL
    ).exists()


# Stale installs moved in one transaction: its locks and memory stay small however many time
# out at once (a mass outage), and no lock on the rollout is held while they move.
STALE_BATCH = 1000


def time_out_stale(*, rollout: Rollout, now: datetime, batch: int = STALE_BATCH) -> int:
    """Installs started but not finished within `install_timeout_minutes` count as timed out.
    Found through the index of started installs (its cost is theirs, not the rollout's), and
    moved `batch` at a time, each batch its own transaction with its counts and evidence."""
    cutoff = now - timedelta(minutes=rollout.policy["install_timeout_minutes"])
    moved = 0
    while True:
        n = _time_out_batch(rollout, cutoff=cutoff, now=now, batch=batch)
        moved += n
        if n < batch:
            return moved


@transaction.atomic
def _time_out_batch(rollout: Rollout, *, cutoff: datetime, now: datetime, batch: int) -> int:
    stale = Assignment.objects.filter(rollout=rollout, status__in=STARTED, started_at__lt=cutoff)
    # Rows a car's report holds now are skipped: they are settled by it, or next minute.
    ids = list(
        stale.order_by("started_at")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)[:batch]
    )
    if not ids:
        return 0
    return move_by_stage(
        rollout, stale.filter(pk__in=ids), AssignmentStatus.TIMED_OUT, "timed_out", now
    )
