"""What a car can physically report in a health window. Pure: standard library only.

A window's numbers feed the control comparison and the promotion gates' exposure: one car
reporting a million hours, or the same hour many times, would skew both. Every problem names
the item (its index in the batch and its id) and the field, so a car can drop that item and
send the rest again (the reference client does).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

MAX_COUNT = 100_000  # ignition cycles, crashes, reboots, and each DTC's count, per window
MAX_WINDOW = timedelta(days=31)
# How far ahead of the server's clock a car's may run. A car reports a window after it ends
# and an event after it happens; old ones (a car parked for weeks) stay welcome.
MAX_FUTURE_SKEW = timedelta(minutes=5)
IN_THE_FUTURE = f"In the future by more than {int(MAX_FUTURE_SKEW.total_seconds() // 60)} minutes."
OVERLAPS_BATCH = "Overlaps another window of this batch."
OVERLAPS_ACCEPTED = "Overlaps a window this vehicle reported before."


@dataclass(frozen=True)
class Problem:
    index: int
    id: str
    field: str
    problem: str

    def as_detail(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "field": self.field, "problem": self.problem}


def window_problems(windows: list[dict[str, Any]], *, now: datetime) -> list[Problem]:
    """Numbers out of reach, windows not over by `now`, and windows of the batch that overlap
    each other."""
    problems = []
    for index, window in enumerate(windows):
        found = _numbers(window)
        if found is None and window["end"] > now + MAX_FUTURE_SKEW:
            found = "end", IN_THE_FUTURE
        if found:
            problems.append(Problem(index, str(window["id"]), *found))
    seen, latest_end = set(), None
    for index, window in sorted(enumerate(windows), key=lambda item: item[1]["start"]):
        if str(window["id"]) in seen:
            continue  # the same window twice: a duplicate, not an overlap
        seen.add(str(window["id"]))
        if latest_end is not None and window["start"] < latest_end:
            problems.append(Problem(index, str(window["id"]), "start", OVERLAPS_BATCH))
        latest_end = window["end"] if latest_end is None else max(latest_end, window["end"])
    return problems


def event_problems(events: list[dict[str, Any]], *, now: datetime) -> list[Problem]:
    """Events dated after `now` (beyond the clock skew allowed): an install cannot finish in
    the future, and its time decides which health windows count as treated."""
    return [
        Problem(index, str(event["id"]), "at", IN_THE_FUTURE)
        for index, event in enumerate(events)
        if event["at"] > now + MAX_FUTURE_SKEW
    ]


def overlap_problems(
    windows: list[dict[str, Any]], accepted: Iterable[tuple[Any, datetime, datetime]]
) -> list[Problem]:
    """Windows that overlap one this vehicle reported before (a window sent again under its
    own id is a duplicate, not an overlap). `accepted`: (id, start, end)."""
    accepted = [(str(other), start, end) for other, start, end in accepted]
    problems = []
    for index, window in enumerate(windows):
        mine = str(window["id"])
        if any(
            other != mine and window["start"] < end and start < window["end"]
            for other, start, end in accepted
        ):
            problems.append(Problem(index, mine, "start", OVERLAPS_ACCEPTED))
    return problems


def _numbers(window: dict[str, Any]) -> tuple[str, str] | None:
    length = window["end"] - window["start"]
    if length > MAX_WINDOW:
        return "end", f"A window is at most {MAX_WINDOW.days} days long."
    if window["driving_seconds"] > length.total_seconds():
        return (
            "driving_seconds",
            f"More than the window's length ({int(length.total_seconds())} s).",
        )
    for name in ("ignition_cycles", "crashes", "reboots"):
        if window[name] > MAX_COUNT:
            return name, f"At most {MAX_COUNT} in one window."
    for code, count in (window.get("dtcs") or {}).items():
        if count > MAX_COUNT:
            return f"dtcs.{code}", f"At most {MAX_COUNT} in one window."
    return None
