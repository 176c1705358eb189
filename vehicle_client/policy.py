"""When a car may download and install: the install policy the Director signs into each
target's `custom` (docs/pouf.md, "Install policy"), judged by the car. Pure: no I/O, no Django.

The server never re-decides on the car's state: a car's position, battery and network change by
the minute, and deciding on them would cost every idle poll its shortcut. The car holds the
signed policy and its own state, and decides here.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

# The policy format this client obeys; announced in its manifest (`install_policy_version`).
POLICY_VERSION = 1

OUTSIDE_WINDOW = "outside_window"
NOT_PARKED = "not_parked"
BATTERY_LOW = "battery_low"
NETWORK = "network"
DRIVER_DEFERRED = "driver_deferred"
DEFERRAL_REASONS = (OUTSIDE_WINDOW, NOT_PARKED, BATTERY_LOW, NETWORK, DRIVER_DEFERRED)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class CarState:
    """What the car knows of itself; its manifest reports it too."""

    parked: bool = True
    battery_soc_pct: int = 80
    network: str = "wifi"  # wifi | cellular | none
    driver_defers: bool = False  # the driver pressed "later" on the install prompt

    def as_report(self) -> dict:
        return {
            "parked": self.parked,
            "battery_soc_pct": self.battery_soc_pct,
            "network": self.network,
        }


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def in_window(windows: list[Mapping], zone: str, now: datetime) -> bool:
    """Whether `now` falls in one of the windows, read on the local wall clock of `zone`
    (so a window at 01:00–05:00 stays there across a change to or from summer time). A window
    whose end is not after its start runs past midnight; its `days` are the days it opens.
    No windows: any time."""
    if not windows:
        return True
    local = now.astimezone(ZoneInfo(zone))
    for window in windows:
        start, end = _clock(window["start"]), _clock(window["end"])
        days = set(window.get("days") or DAYS)
        today, yesterday = DAYS[local.weekday()], DAYS[(local.weekday() - 1) % 7]
        wall = local.time().replace(tzinfo=None)
        if start < end:
            if today in days and start <= wall < end:
                return True
        elif (today in days and wall >= start) or (yesterday in days and wall < end):
            return True
    return False


def download_refused(policy: Mapping | None, state: CarState, length: int) -> str | None:
    """Why the car may not download a target of `length` bytes now, or None."""
    if not policy:
        return None
    limit = policy.get("wifi_only_above_bytes")
    if limit is not None and length > limit and state.network != "wifi":
        return NETWORK
    if state.network == "none":
        return NETWORK
    return None


def install_refused(
    policy: Mapping | None, state: CarState, now: datetime, *, driver_deferrals: int = 0
) -> str | None:
    """Why the car may not install now (a reason code), or None. A parked car with enough
    battery is a safety rule, kept even past a recall's deadline; the window and the driver's
    "later" give way once a recall's deadline has passed or its deferrals are used up."""
    if not policy:
        return None
    if policy.get("require_parked") and not state.parked:
        return NOT_PARKED
    if state.battery_soc_pct < policy.get("min_battery_soc_pct", 0):
        return BATTERY_LOW
    recall = policy.get("urgency") == "safety_recall"
    deadline = policy.get("deadline")
    overdue = recall and deadline is not None and now >= _instant(deadline)
    if overdue:
        return None
    if state.driver_defers:
        allowed = policy.get("max_driver_deferrals") if recall else None
        if allowed is None or driver_deferrals < allowed:
            return DRIVER_DEFERRED
    if not in_window(policy.get("windows") or [], policy.get("time_zone", "UTC"), now):
        return OUTSIDE_WINDOW
    return None


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def next_opening(policy: Mapping, now: datetime, *, step=timedelta(minutes=5)) -> datetime | None:
    """The first moment within a week from `now` inside a window (None without windows)."""
    windows = policy.get("windows") or []
    if not windows:
        return None
    zone = policy.get("time_zone", "UTC")
    moment = now
    for _ in range(int(timedelta(days=8) / step)):
        if in_window(windows, zone, moment):
            return moment
        moment += step
    return None
