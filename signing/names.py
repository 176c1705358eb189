"""What a target path and a hardware id may be: one rule for the models, the management API
and a release import. Pure."""

import re

TARGET_PATH_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._+-]*(/[A-Za-z0-9][A-Za-z0-9._+-]*)*$"
TARGET_PATH_MESSAGE = (
    "A target path is segments of letters, digits and . _ + - separated by /, without '..'."
)
MAX_TARGET_PATH = 200  # Bundle.path
HARDWARE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
HARDWARE_ID_MESSAGE = "Letters, digits and . _ - only, starting with a letter or digit."


def valid_target_path(value: str) -> bool:
    # fullmatch: the pattern's `$` alone would let a trailing newline through.
    return len(value) <= MAX_TARGET_PATH and re.fullmatch(TARGET_PATH_PATTERN, value) is not None


def valid_hardware_id(value: str) -> bool:
    return re.fullmatch(HARDWARE_ID_PATTERN, value) is not None
