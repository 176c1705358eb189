"""Stage plans and health policies: defaults, and the rules a valid one follows. Pure."""

from collections.abc import Mapping
from typing import Any

from ota.text import NO_NUL_PATTERN

GATES = ("auto", "manual")
MAX_STAGES = 20
# A stage soaks and lasts at most a year and a day: the evaluator adds these to the clock, and
# a larger number would overflow its dates (and stop it for every rollout).
MAX_STAGE_MINUTES = 366 * 24 * 60
ON_HALT = ("stop", "retract", "revert")
POLICY_NUMBERS = {
    "max_failure_rate": (0.0, 1.0),
    "min_finished": (1, 10**7),
    "install_timeout_minutes": (1, 60 * 24 * 30),
    "max_rate_ratio": (1.0, 100.0),
    "min_exposure_hours": (0.0, 10**8),
    "confidence": (0.5, 0.9999),
}


class PlanError(ValueError):
    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def validate_stages(stages: Any) -> list[dict]:
    if not isinstance(stages, list) or not stages:
        raise PlanError({"stages": "a non-empty list of stages"})
    if len(stages) > MAX_STAGES:
        raise PlanError({"stages": f"at most {MAX_STAGES} stages"})
    clean, previous = [], 0.0
    for index, stage in enumerate(stages):
        where = f"stages[{index}]"
        if not isinstance(stage, Mapping):
            raise PlanError({where: "an object"})
        unknown = set(stage) - {"percent", "min_soak_minutes", "gate", "max_duration_minutes"}
        if unknown:
            raise PlanError({where: f"unknown fields {sorted(unknown)}"})
        percent = stage.get("percent")
        if not _number(percent) or not previous < percent <= 100:
            raise PlanError({where: f"percent must rise above {previous:g} and be at most 100"})
        soak = stage.get("min_soak_minutes", 0)
        longest = stage.get("max_duration_minutes", max(soak * 4, 60))
        if not _integer(soak) or not 0 <= soak <= MAX_STAGE_MINUTES:
            raise PlanError(
                {f"{where}.min_soak_minutes": f"a whole number from 0 to {MAX_STAGE_MINUTES}"}
            )
        if not _integer(longest) or not max(soak, 1) <= longest <= MAX_STAGE_MINUTES:
            raise PlanError(
                {
                    f"{where}.max_duration_minutes": "a whole number, at least the soak and at "
                    f"most {MAX_STAGE_MINUTES}"
                }
            )
        gate = stage.get("gate", "auto")
        if gate not in GATES:
            raise PlanError({where: f"gate is one of {', '.join(GATES)}"})
        clean.append(
            {
                "percent": percent,
                "min_soak_minutes": soak,
                "gate": gate,
                "max_duration_minutes": longest,
            }
        )
        previous = percent
    if previous != 100:
        raise PlanError({"stages": "the last stage must reach 100 percent"})
    return clean


def validate_policy(policy: Any, defaults: Mapping[str, Any]) -> dict:
    """The defaults with the given overrides, each checked."""
    if policy is None:
        policy = {}
    if not isinstance(policy, Mapping):
        raise PlanError({"policy": "an object"})
    unknown = set(policy) - set(defaults)
    if unknown:
        raise PlanError({"policy": f"unknown fields {sorted(unknown)}"})
    merged = {**defaults, **policy}
    for name, (low, high) in POLICY_NUMBERS.items():
        if not _number(merged[name]) or not low <= merged[name] <= high:
            raise PlanError({f"policy.{name}": f"a number from {low} to {high}"})
    for name in ("critical_event_types", "critical_error_codes"):
        value = merged[name]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PlanError({f"policy.{name}": "a list of strings"})
    if merged["on_halt"] not in ON_HALT:
        raise PlanError({"policy.on_halt": f"one of {', '.join(ON_HALT)}"})
    return merged


# The rules above as the OpenAPI schema says them (rollouts/api/releases.py). What no schema
# can say stays with the checks: that the percents rise and the last is 100, and that a
# stage lasts at least its soak.
STAGES_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_STAGES,
    "items": {
        "type": "object",
        "properties": {
            "percent": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 100},
            "min_soak_minutes": {"type": "integer", "minimum": 0, "maximum": MAX_STAGE_MINUTES},
            "gate": {"type": "string", "enum": list(GATES)},
            "max_duration_minutes": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_STAGE_MINUTES,
            },
        },
        "required": ["percent"],
        "additionalProperties": False,
    },
}
POLICY_SCHEMA = {
    "type": "object",
    "properties": {
        **{
            name: {"type": "number", "minimum": low, "maximum": high}
            for name, (low, high) in POLICY_NUMBERS.items()
        },
        **{
            name: {"type": "array", "items": {"type": "string", "pattern": NO_NUL_PATTERN}}
            for name in ("critical_event_types", "critical_error_codes")
        },
        "on_halt": {"type": "string", "enum": list(ON_HALT)},
    },
    "additionalProperties": False,
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def stages_as_text(stages: list[dict]) -> str:
    """A plan as people type it, one stage per line: "10, 240, auto, 2880"."""
    return "\n".join(
        f"{s['percent']:g}, {s['min_soak_minutes']}, {s['gate']}, {s['max_duration_minutes']}"
        for s in stages
    )


def stages_from_text(text: str) -> list[dict]:
    """Lines of "percent, minimum soak minutes, gate, maximum minutes" (the last two may be
    left out: auto, and four times the soak), checked as any plan is."""
    stages = []
    lines = [line for line in text.splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        parts = [p.strip() for p in line.replace(";", ",").split(",")]
        if not 2 <= len(parts) <= 4:
            raise PlanError({f"line {number}": "percent, soak minutes, gate, maximum minutes"})
        try:
            stage: dict[str, Any] = {
                "percent": float(parts[0].rstrip("% ")),
                "min_soak_minutes": int(parts[1]),
            }
            if len(parts) > 2:
                stage["gate"] = parts[2]
            if len(parts) > 3:
                stage["max_duration_minutes"] = int(parts[3])
        except ValueError:
            raise PlanError({f"line {number}": "numbers where numbers go"}) from None
        if stage["percent"].is_integer():
            stage["percent"] = int(stage["percent"])
        stages.append(stage)
    return validate_stages(stages)
