"""What a delta costs and saves: our build (signing/deltas.py) and the reference car's apply
(vehicle_client/delta.py) on a realistic pair of images (bench/delta_images.py), each in a
process of its own for its peak memory, against the full image: patch size over image size,
build time over the time to hash the image (what publishing it costs), apply time over the
time to download-verify it (hash it), and peak memory over the image size.

    .venv/bin/python -m bench.deltas [--megabytes 128]
"""

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from bench.delta_images import image_pair
from bench.delta_libraries import OURS, _run


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=128)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="delta-bench-"))
    old, new = work / "old.bin", work / "new.bin"
    old_bytes, new_bytes = image_pair(args.megabytes)
    old.write_bytes(old_bytes)
    new.write_bytes(new_bytes)
    del old_bytes
    patch, out = work / "patch", work / "out"

    built = _run(OURS, "build", old, new, patch, out)
    applied = _run(OURS, "apply", old, new, patch, out)
    assert out.read_bytes() == new_bytes, "the applied patch is not version N+1"
    start = time.perf_counter()
    with new.open("rb") as handle:
        for algorithm in ("sha256", "sha512"):
            handle.seek(0)
            hashlib.file_digest(handle, algorithm)
    hashing = time.perf_counter() - start

    full = len(new_bytes)
    size = patch.stat().st_size
    result = {
        "image_bytes": full,
        "patch_bytes": size,
        "size_ratio": size / full,
        "build_s": built["seconds"],
        "build_ratio": built["seconds"] / hashing,
        "build_peak_mib": built["peak_mib"],
        "apply_s": applied["seconds"],
        "apply_ratio": applied["seconds"] / hashing,
        "apply_peak_mib": applied["peak_mib"],
    }
    mib = full / 2**20
    print(f"A delta between two realistic {mib:.0f} MiB images ({OURS})")
    print(f"  size   {size:>13,} bytes of {full:,}: ratio {result['size_ratio']:.3f}")
    print(
        f"  build  {built['seconds']:7.1f} s, {result['build_ratio']:.1f}x hashing the image "
        f"({hashing:.2f} s); peak {built['peak_mib']:.0f} MiB "
        f"({built['peak_mib'] / mib:.1f}x the image)"
    )
    print(
        f"  apply  {applied['seconds']:7.1f} s, {result['apply_ratio']:.1f}x hashing the image; "
        f"peak {applied['peak_mib']:.0f} MiB ({applied['peak_mib'] / mib:.2f}x the image)"
    )
    return result


if __name__ == "__main__":
    main()
