"""Applying a delta: the car rebuilds the new image from the one it runs and a patch.

Format `detools-sequential`: a detools patch (match-blocks algorithm, sequential patch type,
LZMA), chosen by measurement (docs/deltas.md). A sequential patch is read front to back and
reads the old image by seeks, so applying it holds neither image in memory; detools' C
library applies the same patches incrementally on small ECUs. Built by the server
(signing/deltas.py); no Django here.

The output is bounded by the full image's signed length: a patch that would write more is
stopped as it writes, never after. The caller verifies the result against the full image's
signed hashes before installing it, and falls back to the full image on any failure.
"""

from typing import BinaryIO

import detools

FORMAT = "detools-sequential"


class DeltaError(Exception):
    """The delta cannot be applied: the car falls back to the full image."""


class _Bounded:
    """A sink that refuses to grow past `limit` bytes."""

    def __init__(self, sink: BinaryIO, limit: int):
        self.sink, self.limit, self.written = sink, limit, 0

    def write(self, data) -> int:
        self.written += len(data)
        if self.written > self.limit:
            raise DeltaError(f"the patch writes more than the image's {self.limit} bytes")
        return self.sink.write(data)

    def flush(self) -> None:
        self.sink.flush()


def apply(old: BinaryIO, patch: BinaryIO, sink: BinaryIO, *, max_length: int) -> int:
    """Writes the new image into `sink`, never more than `max_length` bytes; the bytes written.
    Raises DeltaError for a patch that is not one of ours or writes too much."""
    bounded = _Bounded(sink, max_length)
    try:
        detools.apply_patch(old, patch, bounded)
    except DeltaError:
        raise
    except Exception as exc:  # detools raises its own Error, and others on garbage input
        raise DeltaError(f"the patch does not apply: {exc}") from None
    return bounded.written
