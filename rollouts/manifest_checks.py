"""The shape of a vehicle version manifest (brief §5), checked without DRF's serializers:
the poll is the hot path. Pure: the standard library and ota/text.py.

The DRF serializers in rollouts/api/vehicle.py describe the same shape for the OpenAPI schema;
a test holds the two to agreement. Errors nest like DRF's (`{"signed": {"vin": ["…"]}}`), so a
client sees one format whichever checked its request.
"""

import re
from typing import Any

from ota.text import bad_text, may_hold_bad_text

HEX64 = re.compile(r"[0-9a-f]{64}")
SIGNATURE = re.compile(r"[0-9a-f]{2,2048}")
MAX_COUNTER = 2**62
MAX_LENGTH = 2**63 - 1  # a bigint column keeps the installed image's length
MAX_ECU_REPORTS = 64
MAX_SIGNATURES = 8

Problems = dict[str, Any]


def manifest_problems(
    data: Any, text: str | None = None, *, text_rules_checked: bool = False
) -> Problems:
    """What is wrong with a parsed manifest body; empty when nothing is. `text`: the JSON it
    was parsed from, if at hand (strict UTF-8, no raw control characters): without a `\\u`
    escape in it, no string can hold NUL or a lone surrogate, and the walk is skipped.
    `text_rules_checked`: the API's JSON parser walked the body for them already."""
    if not isinstance(data, dict):
        return {"non_field_errors": ["Expected an object."]}
    problems = _unknown(data, {"signed", "signatures"})
    _field(problems, data, "signed", _signed)
    _field(problems, data, "signatures", lambda v: _signatures(v, allow_empty=False))
    walk = not text_rules_checked and (text is None or may_hold_bad_text(text))
    if not problems and walk:
        found = bad_text(data)
        if found:
            problems["non_field_errors"] = [found]
    return problems


def _signed(value: Any) -> Problems | list[str]:
    if not isinstance(value, dict):
        return ["Expected an object."]
    problems: Problems = {}
    _field(problems, value, "vin", lambda v: _string(v, 17))
    _field(problems, value, "primary_ecu_serial", lambda v: _string(v, 64))
    _field(problems, value, "report_counter", lambda v: _integer(v, 0, MAX_COUNTER))
    _field(problems, value, "ecu_version_reports", _reports)
    _field(problems, value, "state", _object, required=False)
    _field(problems, value, "install_policy_version", lambda v: _integer(v, 0, 100), required=False)
    return problems


def _reports(value: Any) -> Problems | list[str]:
    if not isinstance(value, dict):
        return ["Expected an object of ECU reports by serial."]
    if not value:
        return ["At least one ECU report."]
    if len(value) > MAX_ECU_REPORTS:
        return [f"At most {MAX_ECU_REPORTS} ECU reports."]
    problems: Problems = {}
    for serial, report in value.items():
        found = _report(report)
        if found:
            problems[serial] = found
    return problems


def _report(value: Any) -> Problems | list[str]:
    if not isinstance(value, dict):
        return ["Expected an object."]
    problems = _unknown(value, {"signed", "signatures"})
    _field(problems, value, "signed", _report_signed)
    _field(problems, value, "signatures", lambda v: _signatures(v, allow_empty=True))
    return problems


def _report_signed(value: Any) -> Problems | list[str]:
    if not isinstance(value, dict):
        return ["Expected an object."]
    problems: Problems = {}
    _field(problems, value, "ecu_serial", lambda v: _string(v, 64))
    _field(problems, value, "hardware_id", lambda v: _string(v, 64))
    _field(problems, value, "installed_image", _image)
    _field(problems, value, "report_counter", lambda v: _integer(v, 0, None), required=False)
    _field(
        problems,
        value,
        "attacks_detected",
        lambda v: _string(v, 1000, blank=True),
        required=False,
    )
    return problems


def _image(value: Any) -> Problems | list[str]:
    if not isinstance(value, dict):
        return ["Expected an object."]
    problems: Problems = {}
    _field(problems, value, "filepath", lambda v: _string(v, 200, blank=True))
    _field(problems, value, "fileinfo", _fileinfo)
    return problems


def _fileinfo(value: Any) -> Problems | list[str]:
    if not isinstance(value, dict):
        return ["Expected an object."]
    problems: Problems = {}
    _field(problems, value, "length", lambda v: _integer(v, 0, MAX_LENGTH))
    _field(problems, value, "hashes", _hashes)
    return problems


def _hashes(value: Any) -> Problems | list[str]:
    if not isinstance(value, dict):
        return ["Expected an object of hashes by algorithm."]
    if not value:
        return ["At least one hash."]
    problems: Problems = {}
    for name, digest in value.items():
        # The image's sha256 is kept (a column of 64): it must be one, not merely fit 128.
        found = _matching(digest, HEX64, "64 hex digits") if name == "sha256" else None
        found = found or _string(digest, 128)
        if found:
            problems[name] = found
    if not problems and "sha256" not in value:
        return ["sha256 is required."]
    return problems


def _signatures(value: Any, *, allow_empty: bool) -> Problems | list[str]:
    if not isinstance(value, list):
        return ["Expected a list of signatures."]
    if not value and not allow_empty:
        return ["At least one signature."]
    if len(value) > MAX_SIGNATURES:
        return [f"At most {MAX_SIGNATURES} signatures."]
    problems: Problems = {}
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            problems[str(index)] = ["Expected an object."]
            continue
        found = _unknown(entry, {"keyid", "sig"})
        _field(found, entry, "keyid", lambda v: _matching(v, HEX64, "64 hex digits"))
        _field(found, entry, "sig", lambda v: _matching(v, SIGNATURE, "hex digits"))
        if found:
            problems[str(index)] = found
    return problems


def _field(problems: Problems, data: dict, name: str, check, *, required: bool = True) -> None:
    if name not in data:
        if required:
            problems[name] = ["This field is required."]
        return
    found = check(data[name])
    if found:
        problems[name] = found


def _unknown(data: dict, known: set[str]) -> Problems:
    return {name: ["Unknown field."] for name in sorted(set(data) - known)}


def _string(value: Any, longest: int, *, blank: bool = False) -> list[str]:
    if not isinstance(value, str):
        return ["Not a valid string."]
    if not blank and not value.strip():
        return ["This field may not be blank."]
    if len(value) > longest:
        return [f"Ensure this field has no more than {longest} characters."]
    return []


def _matching(value: Any, pattern: re.Pattern, what: str) -> list[str]:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return [f"Expected {what}."]
    return []


def _integer(value: Any, lowest: int, highest: int | None) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return ["A valid integer is required."]
    if value < lowest:
        return [f"Ensure this value is greater than or equal to {lowest}."]
    if highest is not None and value > highest:
        return [f"Ensure this value is less than or equal to {highest}."]
    return []


def _object(value: Any) -> list[str]:
    return [] if isinstance(value, dict) else ["Expected an object."]
