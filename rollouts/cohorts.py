"""Cohort filters: the rules a valid one follows, and its pure form for targeting. Pure."""

from collections.abc import Iterable, Mapping
from typing import Any

from ota.text import NO_NUL_PATTERN
from rollouts.plans import PlanError
from rollouts.targeting import CohortRule, InstalledRule
from signing.names import HARDWARE_ID_PATTERN, valid_hardware_id

MAX_PARTS = 100  # names in one filter part; a longer list is a static cohort's job
MAX_RULES = 20  # installed-software rules in one filter
MAX_VERSION = 64


def validate_filter(
    *, kind: str, models: Any, regions: Any, hardware_ids: Any, installed: Any, known_regions
) -> dict[str, list]:
    """The filter parts, cleaned; PlanError names each problem. A static cohort has none,
    a filter at least one (an empty filter would be the whole channel: use no cohort)."""
    problems: dict[str, str] = {}
    clean = {
        "models": _names(models, "models", problems, max_length=64),
        "regions": _names(regions, "regions", problems, max_length=16),
        "hardware_ids": _names(hardware_ids, "hardware_ids", problems, max_length=64),
        "installed": _installed(installed, problems),
    }
    unknown = sorted(set(clean["regions"]) - set(known_regions))
    if unknown:
        problems["regions"] = f"unknown regions {unknown}; known: {sorted(known_regions)}"
    for index, hardware_id in enumerate(clean["hardware_ids"]):
        if not valid_hardware_id(hardware_id):
            problems[f"hardware_ids[{index}]"] = "letters, digits and . _ - only"
    given = any(clean.values())
    if kind == "static" and given:
        problems["kind"] = "a static cohort lists its vehicles; it has no filter"
    if kind == "filter" and not given and not problems:
        problems["kind"] = "a filter needs a part: models, regions, hardware_ids or installed"
    if kind not in ("static", "filter"):
        problems["kind"] = "static or filter"
    if problems:
        raise PlanError(problems)
    return clean


def _names(value: Any, field: str, problems: dict, *, max_length: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems[field] = "a list of non-empty strings"
        return []
    if len(value) > MAX_PARTS or any(len(v) > max_length for v in value):
        problems[field] = f"at most {MAX_PARTS} names of at most {max_length} characters"
        return []
    return sorted(set(value))


def _installed(value: Any, problems: dict) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_RULES:
        problems["installed"] = f"a list of at most {MAX_RULES} rules"
        return []
    clean = []
    for index, rule in enumerate(value):
        where = f"installed[{index}]"
        if not isinstance(rule, Mapping):
            problems[where] = "an object"
            continue
        unknown = set(rule) - {"hardware_id", "versions", "min_counter", "max_counter"}
        hardware_id = rule.get("hardware_id")
        versions = rule.get("versions", [])
        low, high = rule.get("min_counter"), rule.get("max_counter")
        if unknown:
            problems[where] = f"unknown fields {sorted(unknown)}"
        elif not isinstance(hardware_id, str) or not valid_hardware_id(hardware_id):
            problems[where] = "hardware_id: letters, digits and . _ - only"
        elif not isinstance(versions, list) or not all(
            isinstance(v, str) and 0 < len(v) <= MAX_VERSION for v in versions
        ):
            problems[where] = "versions: a list of version strings"
        elif not all(c is None or (_integer(c) and c >= 0) for c in (low, high)):
            problems[where] = "min_counter and max_counter are whole numbers, 0 or more"
        elif low is not None and high is not None and low > high:
            problems[where] = "min_counter is at most max_counter"
        elif not versions and low is None and high is None:
            problems[where] = "give versions, min_counter or max_counter"
        else:
            clean.append(
                {
                    "hardware_id": hardware_id,
                    "versions": sorted(set(versions)),
                    "min_counter": low,
                    "max_counter": high,
                }
            )
    return clean


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# The parts as the OpenAPI schema says them (rollouts/api/cohorts.py), for validate_filter to
# take. What no schema can say stays with it: that a filter has a part and a static cohort
# none, and that a rule's min_counter is at most its max_counter. Which regions are known is
# the deployment's (settings.OTA_REGIONS), said where the schema is generated.
HARDWARE_IDS_SCHEMA = {
    "type": "array",
    "maxItems": MAX_PARTS,
    "items": {"type": "string", "pattern": HARDWARE_ID_PATTERN},
}
_COUNTER = {"type": "integer", "minimum": 0}
INSTALLED_SCHEMA = {
    "type": "array",
    "maxItems": MAX_RULES,
    "items": {
        "type": "object",
        "properties": {
            "hardware_id": {"type": "string", "pattern": HARDWARE_ID_PATTERN},
            "versions": {
                "type": "array",
                "items": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_VERSION,
                    "pattern": NO_NUL_PATTERN,
                },
            },
            "min_counter": _COUNTER,
            "max_counter": _COUNTER,
        },
        "required": ["hardware_id"],
        "additionalProperties": False,
        # A rule says what the ECU runs: versions, a counter bound, or both.
        "anyOf": [
            {"properties": {"versions": {"minItems": 1}}, "required": ["versions"]},
            {"required": ["min_counter"]},
            {"required": ["max_counter"]},
        ],
    },
}


def rule_of(
    *, kind: str, models: Iterable[str], regions: Iterable[str], hardware_ids, installed
) -> CohortRule:
    return CohortRule(
        static=kind == "static",
        models=frozenset(models),
        regions=frozenset(regions),
        hardware_ids=frozenset(hardware_ids),
        installed=tuple(
            InstalledRule(
                hardware_id=r["hardware_id"],
                versions=frozenset(r.get("versions") or ()),
                min_counter=r.get("min_counter"),
                max_counter=r.get("max_counter"),
            )
            for r in installed
        ),
    )


def describe_installed(rule: Mapping[str, Any]) -> str:
    """One installed-software rule in words, for people: "hu-gen7 runs 7.2.0 or 7.2.1,
    release counter 700 to 719"."""
    parts = []
    if rule.get("versions"):
        parts.append(" or ".join(rule["versions"]))
    low, high = rule.get("min_counter"), rule.get("max_counter")
    if low is not None and high is not None:
        parts.append(f"release counter {low} to {high}")
    elif low is not None:
        parts.append(f"release counter {low} or above")
    elif high is not None:
        parts.append(f"release counter {high} or below")
    return f"{rule['hardware_id']} runs {', '.join(parts)}"
