"""Incrementing rollout counters: one UPDATE that adds in the database (`n = n + %s`), so
concurrent telemetry never loses an increment.

A stage's counters are spread over slots (rollouts/models/counters.py); per-car writers count
in their car's slot, at the end of their transaction (`counted_at_end`), so a counter row is
held for the commit only, and only by the cars of its slot. Readers sum the slots.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db.models import Sum

from ota import rawsql
from rollouts.models import RolloutCounter
from rollouts.models.counters import ALL_COUNTERS, FAILURE_COUNTERS


def slot_of(vehicle_id: int) -> int:
    """The counter slot a car counts in."""
    return vehicle_id % settings.OTA_COUNTER_SLOTS


class Tally:
    """Counter increments gathered over a unit of work, applied at its end in one order
    (rollout, stage), all in one slot: two transactions that count the same rows cannot
    deadlock."""

    def __init__(self, *, slot: int = 0):
        self.slot = slot
        self.amounts: dict[tuple[int, int], dict[str, int]] = {}

    def add(self, rollout_id: int, stage_index: int, **amounts: int) -> None:
        row = self.amounts.setdefault((rollout_id, stage_index), {})
        for name, amount in amounts.items():
            row[name] = row.get(name, 0) + amount

    def apply(self) -> None:
        for (rollout_id, stage_index), amounts in sorted(self.amounts.items()):
            _add(rollout_id, stage_index, self.slot, amounts)
        self.amounts = {}


_gathering: ContextVar[Tally | None] = ContextVar("counters_gathering", default=None)


@contextmanager
def counted_at_end(*, slot: int) -> Iterator[Tally]:
    """Counts made inside (by `count`, wherever it is called from) are gathered and applied
    as it ends, in `slot`: the caller ends it as the last write of its transaction, so the
    counter rows are locked from then to the commit only. Nothing is counted if it fails."""
    tally = Tally(slot=slot)
    token = _gathering.set(tally)
    try:
        yield tally
    finally:
        _gathering.reset(token)
    tally.apply()


def counters_prepare(*, rollout) -> None:
    """Every slot's row of every stage, made when the rollout starts, so increments always
    find theirs."""
    RolloutCounter.objects.bulk_create(
        [
            RolloutCounter(rollout=rollout, stage_index=i, slot=slot)
            for i in range(len(rollout.stages or [1]))
            for slot in range(settings.OTA_COUNTER_SLOTS)
        ],
        ignore_conflicts=True,
    )


def count(*, rollout_id: int, stage_index: int, slot: int = 0, **amounts: int) -> None:
    """Add `amounts` to a stage's counters: at once, in `slot`, or, inside `counted_at_end`,
    at its end in its slot."""
    tally = _gathering.get()
    if tally is not None:
        tally.add(rollout_id, stage_index, **amounts)
        return
    _add(rollout_id, stage_index, slot, amounts)


def _add(rollout_id: int, stage_index: int, slot: int, amounts: dict[str, int]) -> None:
    amounts = {name: n for name, n in amounts.items() if n}
    if not amounts:
        return
    row = {"rollout": rollout_id, "stage_index": stage_index, "slot": slot}
    if not rawsql.update(RolloutCounter, row, added=amounts):
        # A rollout started before slots, or a stage added later.
        RolloutCounter.objects.get_or_create(
            rollout_id=rollout_id, stage_index=stage_index, slot=slot
        )
        rawsql.update(RolloutCounter, row, added=amounts)


def totals(*, rollout) -> dict[str, int]:
    """The rollout's counters summed over its stages and slots: one query, whatever the
    event count or the fleet."""
    names = ALL_COUNTERS
    sums = RolloutCounter.objects.filter(rollout=rollout).aggregate(**{n: Sum(n) for n in names})
    return _with_totals({name: sums[name] or 0 for name in names})


def by_stage(*, rollout) -> dict[int, dict[str, int]]:
    return by_rollout_and_stage(rollout_ids=[rollout.pk]).get(rollout.pk, {})


def empty() -> dict[str, int]:
    """The counters of a stage nothing has happened in yet."""
    return _with_totals(dict.fromkeys(ALL_COUNTERS, 0))


def _with_totals(row) -> dict[str, int]:
    values = {name: row[name] or 0 for name in ALL_COUNTERS}
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
    """Every stage's counters of these rollouts, slots summed, in one query (the console's
    cards)."""
    rows = (
        RolloutCounter.objects.filter(rollout_id__in=rollout_ids)
        .values("rollout_id", "stage_index")
        .annotate(**{f"sum_{name}": Sum(name) for name in ALL_COUNTERS})
        .order_by("rollout_id", "stage_index")
    )
    found: dict[int, dict[int, dict[str, int]]] = {}
    for row in rows:
        sums = {name: row[f"sum_{name}"] for name in ALL_COUNTERS}
        found.setdefault(row["rollout_id"], {})[row["stage_index"]] = _with_totals(sums)
    return found


def summed(stages: dict[int, dict[str, int]]) -> dict[str, int]:
    """Stage counters added up (what `totals` reads from the database)."""
    total = empty()
    for counts in stages.values():
        for name, n in counts.items():
            total[name] += n
    return total
