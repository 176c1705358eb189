"""The statistics behind halts. Pure: numbers in, verdicts out.

- Install failure rate: the Wilson score interval of failures over finished installs.
- Post-install health against the control group: the ratio of event rates per driving hour
  (crashes, reboots, DTCs) of updated vehicles over not-yet-updated ones. Conditional on the
  total count, the updated group's share of events is binomial with
  p = t1·RR / (t1·RR + t0), so a Wilson interval on that share gives an interval on the rate
  ratio that stays finite when a group has seen no events yet.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist
from typing import Any


class Verdict(StrEnum):
    HEALTHY = "healthy"  # within the policy with confidence: may advance
    INCONCLUSIVE = "inconclusive"  # not enough evidence either way yet
    UNHEALTHY = "unhealthy"  # outside the policy with confidence: halt


def z_for(confidence: float) -> float:
    """Two-sided normal quantile: 0.95 → 1.96."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclass(frozen=True)
class Interval:
    value: float
    lower: float
    upper: float


def wilson(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a proportion; (0, 0, 1) when there are no trials."""
    if trials <= 0:
        return Interval(0.0, 0.0, 1.0)
    z = z_for(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class FailureCheck:
    verdict: Verdict
    rate: Interval
    finished: int
    failed: int


def failure_rate_check(
    *,
    failed: int,
    finished: int,
    max_failure_rate: float,
    min_finished: int,
    confidence: float = 0.95,
) -> FailureCheck:
    """Halt when even the lower bound exceeds the budget; healthy only when the upper bound is
    within it; nothing is concluded before `min_finished` installs have finished."""
    rate = wilson(failed, finished, confidence)
    if finished < min_finished:
        verdict = Verdict.INCONCLUSIVE
    elif rate.lower > max_failure_rate:
        verdict = Verdict.UNHEALTHY
    elif rate.upper <= max_failure_rate:
        verdict = Verdict.HEALTHY
    else:
        verdict = Verdict.INCONCLUSIVE
    return FailureCheck(verdict, rate, finished, failed)


@dataclass(frozen=True)
class RateRatio:
    value: float | None  # None when a group has no exposure or no events at all
    lower: float
    upper: float  # math.inf when unbounded


def rate_ratio(
    *,
    treated_events: int,
    treated_hours: float,
    control_events: int,
    control_hours: float,
    confidence: float = 0.95,
) -> RateRatio:
    """Ratio of event rates (treated over control) with its confidence interval."""
    if treated_hours <= 0 or control_hours <= 0:
        return RateRatio(None, 0.0, math.inf)
    total = treated_events + control_events
    if total == 0:
        return RateRatio(None, 0.0, math.inf)
    share = wilson(treated_events, total, confidence)
    scale = control_hours / treated_hours

    def to_ratio(p: float) -> float:
        return math.inf if p >= 1 else p / (1 - p) * scale

    value = (
        None
        if control_events == 0
        else (treated_events / treated_hours) / (control_events / control_hours)
    )
    return RateRatio(value, to_ratio(share.lower), to_ratio(share.upper))


@dataclass(frozen=True)
class HealthCheck:
    verdict: Verdict
    ratio: RateRatio
    treated_hours: float
    control_hours: float


def health_check(
    *,
    treated_events: int,
    treated_hours: float,
    control_events: int,
    control_hours: float,
    max_rate_ratio: float,
    min_exposure_hours: float,
    confidence: float = 0.95,
) -> HealthCheck:
    """Halt when the rate ratio's lower bound exceeds `max_rate_ratio`, once both groups have
    `min_exposure_hours` of driving. Healthy once exposure is reached without that."""
    ratio = rate_ratio(
        treated_events=treated_events,
        treated_hours=treated_hours,
        control_events=control_events,
        control_hours=control_hours,
        confidence=confidence,
    )
    if min(treated_hours, control_hours) < min_exposure_hours:
        verdict = Verdict.INCONCLUSIVE
    elif ratio.lower > max_rate_ratio:
        verdict = Verdict.UNHEALTHY
    else:
        verdict = Verdict.HEALTHY
    return HealthCheck(verdict, ratio, treated_hours, control_hours)


HEALTH_METRICS = ("crashes", "reboots", "dtcs")


def policy_checks(
    totals: Mapping[str, float], policy: Mapping[str, Any]
) -> tuple[FailureCheck, dict[str, HealthCheck]]:
    """A rollout's counters judged by its health policy: the install failure rate, and each
    health metric against the control group. What the evaluator decides on and the console
    shows."""
    confidence = policy.get("confidence", 0.95)
    failure = failure_rate_check(
        failed=int(totals["failed"]),
        finished=int(totals["finished"]),
        max_failure_rate=policy["max_failure_rate"],
        min_finished=policy["min_finished"],
        confidence=confidence,
    )
    health = {
        metric: health_check(
            treated_events=int(totals[f"treated_{metric}"]),
            treated_hours=totals["treated_seconds"] / 3600,
            control_events=int(totals[f"control_{metric}"]),
            control_hours=totals["control_seconds"] / 3600,
            max_rate_ratio=policy["max_rate_ratio"],
            min_exposure_hours=policy["min_exposure_hours"],
            confidence=confidence,
        )
        for metric in HEALTH_METRICS
    }
    return failure, health
