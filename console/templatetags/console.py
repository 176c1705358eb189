"""Figures and charts for the console's templates."""

import math

from django import template
from django.conf import settings

from console import charts, selectors
from console.progress import states
from rollouts.health import HEALTH_METRICS
from rollouts.services import counters

register = template.Library()


@register.filter
def percent(value, digits: int = 1) -> str:
    """0.0312 → "3.1 %"."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f} %"


@register.filter
def css_share(value) -> str:
    """A share as a CSS width: 0.25 → "25.00%" (never a locale's decimal comma)."""
    return f"{max(0.0, min(1.0, float(value or 0))) * 100:.2f}%"


@register.filter
def ratio(value) -> str:
    """A rate ratio: 1.234 → "1.23"; unbounded → "∞"; none yet → "—"."""
    if value is None:
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:.2f}"


@register.simple_tag
def live_seconds() -> int:
    """How often an open page fetches fresh figures (settings.OTA_CONSOLE_REFRESH_SECONDS)."""
    return settings.OTA_CONSOLE_REFRESH_SECONDS


@register.simple_tag
def failure_spark(card):
    """A card's failure rate and bounds over its last evaluations, small."""
    return charts.failure_rate_chart(card.failure_points, card.health.max_failure_rate, small=True)


@register.simple_tag
def installed_chart(item):
    return charts.installed_chart(item.hardware_id, item.regions, item.versions)


@register.inclusion_tag("console/_rollout_charts.html")
def rollout_charts(rollout):
    """A rollout's charts: failure rate and rate ratios over time, vehicles per state."""
    history = selectors.rollout_history(rollout=rollout)
    by_stage = counters.by_stage(rollout=rollout)
    stages = []
    for index, stage in enumerate(rollout.stages or [{"percent": 100}]):
        counts = by_stage.get(index, counters.empty())
        stages.append((f"stage {index + 1} ({stage['percent']} %)", states(counts)))
    policy = rollout.policy
    return {
        "rollout": rollout,
        "failure": charts.failure_rate_chart(history.failure, policy["max_failure_rate"]),
        "ratios": [
            charts.rate_ratio_chart(
                metric, history.ratios.get(metric, []), policy["max_rate_ratio"]
            )
            for metric in HEALTH_METRICS
        ],
        "states": charts.stage_states_chart(stages),
        "evaluations": len(history.failure),
    }
