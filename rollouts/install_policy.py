"""Install policies: when and how a car may install a release (docs/pouf.md, "Install
policy"). Pure: no ORM, no clock. The server validates and signs; the car judges
(`vehicle_client/policy.py`).

A policy is a release's (`Release.install_policy`), or a rollout's own when it has one. What
the Director signs into a target's `custom` is the policy with its format `version` and the
vehicle's `time_zone`, so a car reads its windows on its own wall clock.
"""

import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# The format a car must announce (manifest `install_policy_version`) to be offered a release
# with a policy: an older car would ignore the policy, so it gets none of those releases.
POLICY_VERSION = 1

URGENCIES = ("normal", "safety_recall")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# [0-9], not \d: in Python that is any script's digit, and a car reads ASCII times only.
CLOCK_PATTERN = r"([01][0-9]|2[0-3]):[0-5][0-9]"
_CLOCK = re.compile(CLOCK_PATTERN)
MAX_WINDOWS = 14
MAX_BYTES = 2**53  # JSON numbers are exact up to here in every client
KEYS = {
    "windows",
    "require_parked",
    "min_battery_soc_pct",
    "wifi_only_above_bytes",
    "urgency",
    "deadline",
    "max_driver_deferrals",
    "skip_soak",
}


class PolicyError(ValueError):
    """What is wrong, by field: {"windows": ["…"], …}."""

    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in problems.items()))


# A recall's deadline is a real date: not the epoch or a sentinel year, at most ten years out.
EARLIEST_DEADLINE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_DEADLINE_AHEAD = timedelta(days=3653)


def validate(policy: Mapping | None, *, now: datetime | None = None) -> dict:
    """A policy in its normal form ({} for none), or PolicyError naming each bad field.
    `now`: the server's clock, which bounds a deadline from above (else the year 2100)."""
    if not policy:
        return {}
    problems: dict[str, list[str]] = {}

    def bad(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    unknown = sorted(set(policy) - KEYS)
    if unknown:
        bad("policy", f"Unknown fields: {', '.join(unknown)}.")
    normal: dict = {}
    windows = policy.get("windows", [])
    if not isinstance(windows, list) or len(windows) > MAX_WINDOWS:
        bad("windows", f"A list of at most {MAX_WINDOWS} windows.")
        windows = []
    normal_windows = []
    for index, window in enumerate(windows):
        if not isinstance(window, Mapping) or set(window) - {"days", "start", "end"}:
            bad("windows", f"Window {index + 1}: days, start and end only.")
            continue
        start, end = window.get("start"), window.get("end")
        if not (isinstance(start, str) and _CLOCK.fullmatch(start)) or not (
            isinstance(end, str) and _CLOCK.fullmatch(end)
        ):
            bad("windows", f"Window {index + 1}: start and end are local times like 01:30.")
            continue
        if start == end:
            bad("windows", f"Window {index + 1}: it opens and closes at {start}.")
            continue
        days = window.get("days") or list(DAYS)
        if not isinstance(days, list) or not all(isinstance(d, str) and d in DAYS for d in days):
            bad("windows", f"Window {index + 1}: days among {', '.join(DAYS)}.")
            continue
        normal_windows.append({"days": [d for d in DAYS if d in days], "start": start, "end": end})
    if normal_windows:
        normal["windows"] = normal_windows
    parked = policy.get("require_parked", False)
    if not isinstance(parked, bool):
        bad("require_parked", "true or false.")
    elif parked:
        normal["require_parked"] = True
    battery = policy.get("min_battery_soc_pct", 0)
    if not _int_in(battery, 0, 100):
        bad("min_battery_soc_pct", "A whole percentage, 0 to 100.")
    elif battery:
        normal["min_battery_soc_pct"] = battery
    wifi = policy.get("wifi_only_above_bytes")
    if wifi is not None and not _int_in(wifi, 0, MAX_BYTES):
        bad("wifi_only_above_bytes", "A size in bytes, or null for any network.")
    elif wifi is not None:
        normal["wifi_only_above_bytes"] = wifi
    urgency = policy.get("urgency", "normal")
    if urgency not in URGENCIES:
        bad("urgency", f"One of {', '.join(URGENCIES)}.")
    normal["urgency"] = urgency
    deadline, deferrals = policy.get("deadline"), policy.get("max_driver_deferrals")
    skip_soak = policy.get("skip_soak", False)
    if not isinstance(skip_soak, bool):
        bad("skip_soak", "true or false.")
        skip_soak = False
    if urgency == "safety_recall":
        moment = _moment(deadline)
        latest = now + LATEST_DEADLINE_AHEAD if now else datetime(2100, 1, 1, tzinfo=UTC)
        if moment is None:
            bad("deadline", "A recall has a deadline: an ISO 8601 time with its offset.")
        elif not EARLIEST_DEADLINE <= moment <= latest:
            bad(
                "deadline",
                f"A real date: from {EARLIEST_DEADLINE:%Y-%m-%d} to {latest:%Y-%m-%d}.",
            )
        else:
            normal["deadline"] = moment.isoformat()
        if deferrals is not None and not _int_in(deferrals, 0, 100):
            bad("max_driver_deferrals", "A whole number, 0 to 100.")
        elif deferrals is not None:
            normal["max_driver_deferrals"] = deferrals
        if skip_soak:
            normal["skip_soak"] = True
    elif deadline is not None or deferrals is not None or skip_soak:
        bad(
            "urgency",
            "A deadline, driver deferrals and skipping soak waits belong to safety recalls.",
        )
    if problems:
        raise PolicyError(problems)
    if normal == {"urgency": "normal"}:
        return {}
    return normal


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _moment(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


# The rules above as the OpenAPI schema says them (rollouts/api/releases.py), so that a
# client learns them before it is refused; tests/rollouts/test_install_policy.py holds the two
# to agreement. What no JSON schema can say is left to `validate`: that a window opens and
# closes at different times, and that a recall's deadline is no more than ten years past the
# server's clock.
_CLOCK_SCHEMA = {"type": "string", "pattern": f"^{CLOCK_PATTERN}$"}
SCHEMA = {
    "type": "object",
    "properties": {
        "windows": {
            "type": "array",
            "maxItems": MAX_WINDOWS,
            "items": {
                "type": "object",
                "properties": {
                    "days": {
                        "type": "array",
                        "items": {"type": "string", "enum": list(DAYS)},
                        "description": "none: every day",
                    },
                    "start": _CLOCK_SCHEMA,
                    "end": _CLOCK_SCHEMA,
                },
                "required": ["start", "end"],
                "additionalProperties": False,
            },
            "description": "Times on the car's clock, like 01:30; a window may pass midnight.",
        },
        "require_parked": {"type": "boolean"},
        "min_battery_soc_pct": {"type": "integer", "minimum": 0, "maximum": 100},
        "wifi_only_above_bytes": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_BYTES,
            "nullable": True,
            "description": "null: any network",
        },
        "urgency": {"type": "string", "enum": list(URGENCIES)},
        "deadline": {
            "type": "string",
            "format": "date-time",
            "description": "A recall's: every car has it by then; at most ten years ahead.",
        },
        "max_driver_deferrals": {"type": "integer", "minimum": 0, "maximum": 100},
        "skip_soak": {"type": "boolean"},
    },
    "additionalProperties": False,
    # A deadline, driver deferrals and skipping soak waits belong to safety recalls, and a
    # recall has a deadline.
    "anyOf": [
        {
            "properties": {"urgency": {"enum": ["normal"]}, "skip_soak": {"enum": [False]}},
            "not": {"anyOf": [{"required": ["deadline"]}, {"required": ["max_driver_deferrals"]}]},
        },
        {
            "properties": {"urgency": {"enum": ["safety_recall"]}},
            "required": ["urgency", "deadline"],
        },
    ],
}


def is_recall(policy: Mapping | None) -> bool:
    return bool(policy) and policy.get("urgency") == "safety_recall"


def skips_soak(policy: Mapping | None) -> bool:
    """A recall whose stages advance once their failure rate is proven low, without waiting
    out the soak time (and the driving hours a health comparison needs)."""
    return is_recall(policy) and bool(policy.get("skip_soak"))


def deadline(policy: Mapping | None) -> datetime | None:
    return _moment(policy.get("deadline")) if is_recall(policy) else None


# Files a zoneinfo folder holds that are not zones of the IANA database: the system's own
# zone under another name, POSIX rules, and a placeholder zone for unconfigured machines.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) - NOT_ZONES


def valid_time_zone(name: str) -> bool:
    """A zone of the IANA database, by its name (Europe/Paris, UTC)."""
    if not isinstance(name, str) or name not in _zones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=1)
def time_zones() -> list[str]:
    """Every name valid_time_zone takes, sorted: the schema's enum (this server's database)."""
    return sorted(name for name in _zones() if valid_time_zone(name))


def for_vehicle(policy: Mapping, time_zone: str) -> dict:
    """What the Director signs for one vehicle: the policy, its format and the vehicle's zone
    ({} when there is no policy: nothing is signed, any car may take it)."""
    if not policy:
        return {}
    return {"version": POLICY_VERSION, **policy, "time_zone": time_zone}


def required_version(policy: Mapping) -> int:
    """The policy format a car must obey to be offered a release with this policy."""
    return POLICY_VERSION if policy else 0


def describe(policy: Mapping) -> str:
    """The policy as a sentence for people."""
    if not policy:
        return "Cars install as soon as they are offered."
    parts = []
    windows = policy.get("windows") or []
    if windows:
        shown = []
        for window in windows:
            days = window.get("days") or list(DAYS)
            when = "daily" if len(days) == len(DAYS) else ", ".join(days)
            shown.append(f"{window['start']}–{window['end']} {when}")
        parts.append("at " + "; ".join(shown) + " (the car's local time)")
    if policy.get("require_parked"):
        parts.append("when parked")
    if policy.get("min_battery_soc_pct"):
        parts.append(f"with the battery at least {policy['min_battery_soc_pct']} %")
    if policy.get("wifi_only_above_bytes") is not None:
        parts.append(f"on Wi-Fi for downloads over {policy['wifi_only_above_bytes']:,} bytes")
    text = "Cars install " + (", ".join(parts) if parts else "as soon as they are offered") + "."
    if policy.get("urgency") == "safety_recall":
        text += f" Safety recall: due {policy['deadline']}"
        if policy.get("max_driver_deferrals") is not None:
            text += f", the driver may put it off {policy['max_driver_deferrals']} times"
        text += "."
        if policy.get("skip_soak"):
            text += " Stages advance without waiting out their soak time."
    return text
