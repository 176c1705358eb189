"""Vehicle identification numbers (ISO 3779). Pure: no ORM."""

import re

# 17 characters: digits and capital letters except I, O and Q (they read like 1 and 0).
VIN_PATTERN = "[A-HJ-NPR-Z0-9]{17}"
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


def normalize_vin(value: str) -> str:
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
