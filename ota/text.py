"""One rule for text from outside, on both databases: no NUL and no lone surrogate.

PostgreSQL stores neither (in text nor in jsonb) and canonical JSON cannot encode a lone
surrogate; SQLite would take both. Refused anywhere in a body, keys included, so a request
behaves the same whichever database is behind it. Pure: standard library only."""

from dataclasses import dataclass
from typing import Any

# The rule as the OpenAPI schema says it of a request's strings (ota/schema.py). Lone
# surrogates need no pattern: UTF-8 cannot encode one, so only a `\u` escape that no valid
# string has carries one (RFC 8259, section 8.2).
NO_NUL_PATTERN = r"^[^\u0000]*$"
# The same for text that may not be blank once trimmed: DRF trims what str.strip() does,
# Python's whitespace, which is ECMA's \s and also \x1c-\x1f and \x85.
NOT_BLANK_PATTERN = r"^[^\u0000]*[^\u0000\s\u001c-\u001f\u0085][^\u0000]*$"


@dataclass(frozen=True)
class BadText:
    problem: str
    path: tuple[str | int, ...]  # the keys and list indexes down to it
    in_key: bool  # the bad text is a key of the object at `path`, not the value there

    def pointer(self) -> str:
        """Where, as a JSON Pointer (RFC 6901). It never repeats the bad text: a lone surrogate
        could not be written into the answer."""
        return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in self.path)


def find_bad_text(value: Any, path: tuple[str | int, ...] = ()) -> BadText | None:
    """The first text in a parsed JSON value that no column can keep, and where it is."""
    if isinstance(value, str):
        problem = bad_string(value)
        return BadText(problem, path, in_key=False) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = bad_string(key)
            if problem:
                return BadText(problem, path, in_key=True)
            found = find_bad_text(item, (*path, key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_bad_text(item, (*path, index))
            if found:
                return found
    return None


def bad_text(value: Any) -> str:
    """Why a parsed JSON value holds text no column can keep; empty when it holds none."""
    found = find_bad_text(value)
    return found.problem if found else ""


def bad_string(text: str) -> str:
    if "\x00" in text:
        return "Strings may not contain NUL characters."
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "Strings may not contain lone surrogates."
    return ""


def may_hold_bad_text(json_text: str) -> bool:
    """Strict JSON (no raw control characters, valid UTF-8) can carry NUL or a lone surrogate
    only as a `\\u` escape: a body without one need not be walked."""
    return "\\u" in json_text
