"""HTTP Range requests (RFC 9110 §14) for one byte range. Pure."""

import re

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, length: int) -> tuple[int, int] | None:
    """(first, last) inclusive, or None to send the whole body.

    Several ranges, or a header we do not understand, get the whole body: the RFC lets a
    server ignore Range. A well-formed range that lies outside the body is Unsatisfiable.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the final N bytes
        suffix = int(last)
        if suffix == 0 or length == 0:
            raise Unsatisfiable
        return max(0, length - suffix), length - 1
    start = int(first)
    if start >= length:
        raise Unsatisfiable
    end = int(last) if last else length - 1
    if start > end:
        return None  # invalid syntax: ignore the header
    return start, min(end, length - 1)
