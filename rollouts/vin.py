"""Vehicle identification numbers (ISO 3779). Pure: no ORM."""

import re

# 17 characters: digits and capital letters except I, O and Q (they read like 1 and 0).
VIN_PATTERN = "[A-HJ-NPR-Z0-9]{17}"
# The same in either case: what a person may type where a VIN is looked up (normalize_vin).
VIN_PATTERN_ANY_CASE = "[A-HJ-NPR-Za-hj-npr-z0-9]{17}"
_VIN_RE = re.compile(rf"^{VIN_PATTERN}$")

_TRANSLITERATION = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


VIN_RULE = "A VIN is 17 characters: digits and letters except I, O and Q (ISO 3779)."


def normalize_vin(value: str) -> str:
    """The one form VINs are stored and compared in: every VIN a person gives the management
    API or the admin (a body, a form, a URL, a search) goes through here first, so that a
    VIN typed in lower case finds its car. The vehicle API takes only this form: a car's
    URL names its VIN exactly as its token does."""
    return value.strip().upper()


def is_valid_vin(value: str) -> bool:
    """The ISO 3779 alphabet and length. The check digit is only mandatory in North America,
    so it is not required here (see `check_digit`)."""
    return bool(_VIN_RE.match(value))


def check_digit(vin: str) -> str:
    """The North American check digit (position 9) for a 17-character VIN."""
    total = sum(_TRANSLITERATION[char] * weight for char, weight in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def with_check_digit(vin: str) -> str:
    return vin[:8] + check_digit(vin) + vin[9:]
