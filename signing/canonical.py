"""OLPC canonical JSON for checking signatures, as securesystemslib's `encode_canonical`
writes it, at the speed of the C JSON encoder. Pure.

Canonical JSON and `json.dumps(sort_keys, compact, ensure_ascii=False)` write the same bytes
for what a parsed body holds (objects, arrays, strings, integers, booleans, null), except that
canonical JSON refuses floats and escapes only `"` and `\\` where json also escapes control
characters. Whenever the fast output shows either (an escape other than those two, or anything
that looks like a float), securesystemslib's own encoder decides: it is the reference, and a
test compares the two on generated documents.
"""

import json
import re
from typing import Any

from securesystemslib.formats import encode_canonical

_FAST = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# An escape canonical JSON would not write; a number with a fraction or an exponent (every
# value follows ":", "," or "["; a match inside a string only costs the slower path).
_ESCAPE = re.compile(r'\\[^"\\]')
_FLOAT = re.compile(r"[:,\[]-?[0-9]+[.eE]")


def canonical_json(value: Any) -> bytes:
    """The bytes a TUF signature covers. Raises (like `encode_canonical`) for what canonical
    JSON cannot hold: floats, other types, strings that are not Unicode."""
    try:
        text = _FAST.encode(value)
    except (TypeError, ValueError):
        text = None
    if text is None or ("\\" in text and _ESCAPE.search(text)) or _FLOAT.search(text):
        return encode_canonical(value).encode("utf-8")
    return text.encode("utf-8")
