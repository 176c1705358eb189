"""One rule for text from outside, on both databases: no NUL and no lone surrogate.

PostgreSQL stores neither (in text nor in jsonb) and canonical JSON cannot encode a lone
surrogate; SQLite would take both. Refused anywhere in a body, keys included, so a request
behaves the same whichever database is behind it. Pure: standard library only."""

from typing import Any


def bad_text(value: Any) -> str:
    """Why a parsed JSON value holds text no column can keep; empty when it holds none."""
    if isinstance(value, str):
        return bad_string(value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = bad_string(key) or bad_text(item)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = bad_text(item)
            if found:
                return found
    return ""


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
