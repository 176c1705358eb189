"""Building a delta (format `detools-sequential`, applied by `vehicle_client/delta.py`).
Pure: files in, file out; the task that stores and signs it is `signing/services/deltas.py`.

detools' match-blocks algorithm was chosen by measurement (docs/deltas.md, bench/
delta_libraries.py): on realistic images its patches are as small as bsdiff's, built many
times faster in a fraction of the memory, and applied by streaming.
"""

from typing import BinaryIO

import detools

from vehicle_client.delta import FORMAT

__all__ = ["FORMAT", "build"]


def build(old: BinaryIO, new: BinaryIO, patch: BinaryIO) -> None:
    """Writes the patch that turns `old` into `new` (seekable files)."""
    detools.create_patch(
        old, new, patch, compression="lzma", patch_type="sequential", algorithm="match-blocks"
    )
