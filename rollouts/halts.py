"""Why a rollout halted, as a value and as a sentence a person can read. Pure: standard
library only.

A halt reason is stored as JSON on the rollout (`metric`, `stage`, `value`, `bound`,
`threshold`, `sample`): the API returns it as is, for machines. `describe()` is the one
sentence the API, the admin, the notifications and the audit trail show people.
"""

from dataclasses import dataclass, field
from typing import Any

OPERATOR = "operator"
CRITICAL_SIGNAL = "critical_signal"
INSTALL_FAILURE_RATE = "install_failure_rate"
RATE_RATIO_SUFFIX = "_per_hour_ratio"
TIMES = "\N{MULTIPLICATION SIGN}"
RATE_NAMES = {  # measure: (what its rate is called, what it counts)
    "crashes": ("Crash rate", "crashes"),
    "reboots": ("Reboot rate", "reboots"),
    "dtcs": ("Diagnostic trouble code rate", "DTCs"),
}


@dataclass(frozen=True)
class HaltReason:
    metric: str
    stage: int
    value: Any = None
    bound: float | None = None
    threshold: Any = None
    sample: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "HaltReason":
        return cls(
            metric=str(data.get("metric", "")),
            stage=int(data.get("stage") or 0),
            value=data.get("value"),
            bound=data.get("bound"),
            threshold=data.get("threshold"),
            sample=dict(data.get("sample") or {}),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "stage": self.stage,
            "value": self.value,
            "bound": self.bound,
            "threshold": self.threshold,
            "sample": self.sample,
        }

    def describe(self, *, stages: list[dict] | None = None, confidence: float = 0.95) -> str:
        """One sentence. `stages`: the rollout's plan, to name the stage's share of the fleet;
        `confidence`: the policy's, to name the bound."""
        where = _stage(self.stage, stages)
        level = f"{_number(confidence * 100)} %"
        if self.metric == OPERATOR:
            by = self.sample.get("by") or "a person"
            return f"Halted by {by}: {self.value}" if self.value else f"Halted by {by}."
        if self.metric == INSTALL_FAILURE_RATE:
            failed, finished = self.sample.get("failed", 0), self.sample.get("finished", 0)
            bound, limit = _apart(_scaled(self.bound, 100), _scaled(self.threshold, 100), 1)
            return (
                f"Install failure rate in {where}: at least {bound} % ({level} lower bound; "
                f"{failed} of {finished} installs failed) is above the {limit} % limit."
            )
        if self.metric.endswith(RATE_RATIO_SUFFIX):
            measure = self.metric.removesuffix(RATE_RATIO_SUFFIX)
            name, noun = RATE_NAMES.get(measure, (measure.capitalize() + " rate", measure))
            s = self.sample
            bound, limit = _apart(self.bound, self.threshold, 2)
            return (
                f"{name} against the control group in {where}: at least {bound}{TIMES} ({level} "
                f"lower bound; {s.get('treated_events', 0)} {noun} in "
                f"{_number(s.get('treated_hours', 0))} h on the release, "
                f"{s.get('control_events', 0)} in {_number(s.get('control_hours', 0))} h without "
                f"it) is above the {limit}{TIMES} limit."
            )
        if self.metric == CRITICAL_SIGNAL:
            if "vin" in self.sample:
                return (
                    f"Critical signal {self.value} in {where}, reported by "
                    f"{self.sample['vin']}: one is enough to halt."
                )
            count = self.value
            signals = "signal" if count == 1 else "signals"
            return f"{count} critical {signals} counted in {where}: one is enough to halt."
        return (
            f"{self.metric} in {where}: value {self.value}, bound {self.bound}, "
            f"threshold {self.threshold}, sample {self.sample}."
        )


def halt_description(halt_reason: dict[str, Any] | None, rollout: Any) -> str | None:
    """The sentence for a rollout's stored halt reason, with its stage plan and confidence."""
    if not halt_reason:
        return None
    return HaltReason.from_json(halt_reason).describe(
        stages=rollout.stages, confidence=(rollout.policy or {}).get("confidence", 0.95)
    )


def _stage(index: int, stages: list[dict] | None) -> str:
    if not stages or not 0 <= index < len(stages):
        return f"stage {index + 1}"
    return f"stage {index + 1} of {len(stages)} ({stages[index].get('percent', '?')} %)"


def _scaled(value: Any, by: float) -> float | None:
    return None if value is None else float(value) * by


def _apart(bound: float | None, limit: float | None, digits: int) -> tuple[str, str]:
    """Both numbers with `digits` decimals, or more where that would show them equal."""
    for places in range(digits, digits + 3):
        shown = _number(bound, places), _number(limit, places)
        if shown[0] != shown[1] or bound == limit:
            return shown
    return shown


def _number(value: Any, places: int = 1) -> str:
    """`places` decimals at most, trailing zeros dropped: 15.70 → 15.7, 2.0 → 2."""
    if value is None:
        return "?"
    text = f"{float(value):.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
