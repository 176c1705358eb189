"""A rollout's figures as the console shows them. Pure: counters, plan and policy in.

Counters count entries into a state (rollouts/models/counters.py); what a person wants to see
is where the vehicles are now, which these give without a scan of assignments.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from rollouts.health import FailureCheck, HealthCheck, policy_checks


def state_label(state: str) -> str:
    """timed_out → "timed out": a state as a person reads it."""
    return state.replace("_", " ")


@dataclass(frozen=True)
class Segment:
    state: str  # succeeded, failed, timed_out, deferred, waiting
    count: int
    share: float  # of the vehicles in scope (or of those offered when the scope is not counted)

    @property
    def label(self) -> str:
        return state_label(self.state)


@dataclass(frozen=True)
class Progress:
    """Where the rollout's vehicles are, against its plan."""

    in_scope: int | None  # None: the scope is a filter on installed software, not counted
    offered: int
    segments: tuple[Segment, ...]
    # The plan's stage marks (cumulative share of the scope) and which stage runs now.
    marks: tuple[float, ...]
    stage_index: int

    @property
    def offered_share(self) -> float | None:
        return None if not self.in_scope else min(1.0, self.offered / self.in_scope)


def states(counts: dict[str, int]) -> dict[str, int]:
    """Vehicles per state now, from a stage's (or the rollout's) counters. Deferred: waiting
    for their install window or conditions, apart from the rest still to answer (waiting:
    offered, not finished, not retracted); a revert moves vehicles that had succeeded."""
    unfinished = max(0, counts["offered"] - counts["finished"] - counts["retracted"])
    deferred = min(unfinished, max(0, counts["deferred_now"]))
    return {
        "succeeded": counts["succeeded"],
        "failed": counts["failed"] - counts["timed_out"],
        "timed_out": counts["timed_out"],
        "deferred": deferred,
        "waiting": unfinished - deferred,
    }


def progress(
    *, totals: dict[str, int], stages: list[dict], stage_index: int, in_scope: int | None
) -> Progress:
    counts = states(totals)
    whole = in_scope if in_scope else max(1, sum(counts.values()))
    segments = tuple(
        Segment(state, n, min(1.0, n / whole))
        for state, n in counts.items()
        if n or state != "deferred"  # shown once an install policy makes cars wait
    )
    marks = tuple(float(stage["percent"]) / 100 for stage in stages) if in_scope else ()
    return Progress(in_scope, totals["offered"], segments, marks, stage_index)


@dataclass(frozen=True)
class Health:
    """The figures the evaluator decides on, computed the same way (rollouts/health.py)."""

    failure: FailureCheck
    max_failure_rate: float
    rate_ratios: dict[str, HealthCheck]
    max_rate_ratio: float


def health(*, totals: dict[str, int], policy: dict) -> Health:
    failure, ratios = policy_checks(totals, policy)
    return Health(failure, policy["max_failure_rate"], ratios, policy["max_rate_ratio"])


def next_gate(
    *,
    status: str,
    stages: list[dict],
    stage_index: int,
    stage_started_at: datetime | None,
    now: datetime,
    awaiting_person: bool,
) -> str:
    """What the rollout waits for next, in words (stages counted from 1, as for halts)."""
    if status == "paused":
        return "Paused: waits for a person to resume, advance or halt."
    if status == "halted":
        return "Halted: nothing is offered until a person resumes or reverts it."
    if status != "running" or not stages or stage_started_at is None:
        return ""
    stage = stages[min(stage_index, len(stages) - 1)]
    last = stage_index + 1 >= len(stages)
    then = (
        "completes"
        if last
        else f"moves to stage {stage_index + 2} ({stages[stage_index + 1]['percent']} %)"
    )
    soak_end = stage_started_at + timedelta(minutes=stage["min_soak_minutes"])
    if awaiting_person:
        return f"Healthy and soaked: waits for a person at the manual gate, then it {then}."
    if now < soak_end:
        return f"Soaking: {duration(soak_end - now)} to go; if healthy then, it {then}."
    overdue = stage_started_at + timedelta(minutes=stage["max_duration_minutes"])
    pauses = f"pauses in {duration(max(overdue - now, timedelta()))} if still inconclusive"
    if stage["gate"] == "manual":
        return f"Soaked; once healthy a person approves the manual gate ({pauses})."
    return f"Soaked; once healthy it {then} ({pauses})."


def duration(span: timedelta) -> str:
    """3 d 5 h, 2 h 5 min, 7 min: two units at most, rounded up (a wait is never understated)."""
    minutes = math.ceil(span.total_seconds() / 60)
    if minutes >= 24 * 60:  # days and hours, the hours rounded up too
        days, hours = divmod(math.ceil(minutes / 60), 24)
        return f"{days} d {hours} h" if hours else f"{days} d"
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"
