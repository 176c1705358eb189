"""Which cars of a channel a change of decision inputs can concern. Pure: no ORM.

Each bump of a channel's `decision_version` is logged on the channel with its reach: everyone,
or the cars whose bucket of one rollout lies in a range of percents, optionally only in some
markets (an `advance` from 10 % to 20 % reaches the cars bucketed in [10 %, 20 %)). An idle
poll reads the log with its channel (the statement that authenticates it) and skips the
decision when no change since its own last decision reaches it. The log keeps the last
`KEPT` changes: a car that decided before the oldest takes the full decision.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rollouts.targeting import BUCKETS, bucket

KEPT = 16  # a channel row stays small: it is read on every poll


@dataclass(frozen=True)
class Reach:
    """The cars a change concerns: every car (no salt), or those whose bucket of the rollout
    with this salt lies in [low, high) percent; and only in `regions`, if given."""

    salt: str = ""
    low: float = 0.0
    high: float = 100.0
    regions: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return bool(self.salt) and self.high <= self.low

    def as_json(self, version: int) -> dict:
        logged: dict = {"v": version}
        if self.salt:
            logged.update(s=self.salt, lo=self.low, hi=self.high)
        if self.regions:
            logged["r"] = list(self.regions)
        return logged


EVERYONE = Reach()


def reaches(change: dict, *, vin: str, region: str) -> bool:
    if change.get("r") and region not in change["r"]:
        return False
    if not change.get("s"):
        return True
    at = bucket(change["s"], vin)
    return change["lo"] * BUCKETS / 100 <= at < change["hi"] * BUCKETS / 100


def concerned(log: Sequence[dict], *, since: int, now: int, vin: str, region: str) -> bool:
    """Whether any change after version `since` up to `now` may concern this car; True when
    the log no longer holds every one of them."""
    if since == now:
        return False
    changes = [c for c in log if since < c["v"] <= now]
    if len(changes) != now - since:
        return True
    return any(reaches(c, vin=vin, region=region) for c in changes)


def logged(log: Iterable[dict], reach: Reach, *, version: int) -> list[dict]:
    """The log with this change (the bump to `version`) added, the oldest beyond KEPT let go."""
    return [*log, reach.as_json(version)][-KEPT:]
