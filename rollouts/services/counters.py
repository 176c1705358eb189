"""Incrementing rollout counters: one UPDATE with F() expressions, so concurrent telemetry
never loses an increment (the database adds, not Python)."""

from django.db.models import F, Sum

from rollouts.models import RolloutCounter
from rollouts.models.counters import ALL_COUNTERS, FAILURE_COUNTERS


def counters_prepare(*, rollout) -> None:
    """One row per stage, made when the rollout starts, so increments always find theirs."""
    RolloutCounter.objects.bulk_create(
        [RolloutCounter(rollout=rollout, stage_index=i) for i in range(len(rollout.stages or [1]))],
        ignore_conflicts=True,
    )


def count(*, rollout_id: int, stage_index: int, **amounts: int) -> None:
    amounts = {name: n for name, n in amounts.items() if n}
    if not amounts:
        return
    updated = RolloutCounter.objects.filter(rollout_id=rollout_id, stage_index=stage_index).update(
        **{name: F(name) + n for name, n in amounts.items()}
    )
    if not updated:  # a rollout started before counters existed, or a stage added later
        RolloutCounter.objects.get_or_create(rollout_id=rollout_id, stage_index=stage_index)
        RolloutCounter.objects.filter(rollout_id=rollout_id, stage_index=stage_index).update(
            **{name: F(name) + n for name, n in amounts.items()}
        )


def totals(*, rollout) -> dict[str, int]:
    """The rollout's counters summed over its stages: one query, whatever the event count."""
    names = ALL_COUNTERS
    sums = RolloutCounter.objects.filter(rollout=rollout).aggregate(**{n: Sum(n) for n in names})
    return _with_totals({name: sums[name] or 0 for name in names})


def by_stage(*, rollout) -> dict[int, dict[str, int]]:
    rows = RolloutCounter.objects.filter(rollout=rollout).values()
    return {row["stage_index"]: _with_totals(row) for row in rows}


def empty() -> dict[str, int]:
    """The counters of a stage nothing has happened in yet."""
    return _with_totals(dict.fromkeys(ALL_COUNTERS, 0))


def _with_totals(row) -> dict[str, int]:
    values = {name: row[name] for name in ALL_COUNTERS}
    values["failed"] = sum(values[n] for n in FAILURE_COUNTERS)
    values["finished"] = values["failed"] + values["succeeded"]
    values["deferred_now"] = values["deferred"] - values["deferral_ended"]
    return values


def leaving_deferred(status: str, deferred_at, now) -> dict[str, int]:
    """What an assignment leaving `status` adds to its stage's deferral counters."""
    if status != "deferred":
        return {}
    waited = int((now - deferred_at).total_seconds()) if deferred_at else 0
    return {"deferral_ended": 1, "deferred_seconds": max(waited, 0)}


def by_rollout_and_stage(*, rollout_ids) -> dict[int, dict[int, dict[str, int]]]:
    """Every stage's counters of these rollouts, in one query (the console's cards)."""
    found: dict[int, dict[int, dict[str, int]]] = {}
    for row in RolloutCounter.objects.filter(rollout_id__in=rollout_ids).values():
        found.setdefault(row["rollout_id"], {})[row["stage_index"]] = _with_totals(row)
    return found


def summed(stages: dict[int, dict[str, int]]) -> dict[str, int]:
    """Stage counters added up (what `totals` reads from the database)."""
    total = empty()
    for counts in stages.values():
        for name, n in counts.items():
            total[name] += n
    return total
