"""Which binary-delta library: patch size, build time and peak memory, and apply time and
memory, for each candidate on the same realistic pair of images (bench/delta_images.py).

Each build and each apply runs in a fresh process, so its peak resident memory is its own.
Libraries that are not installed are named and left out (only `zstandard` is a dependency;
`pip install bsdiff4 detools` to compare them too). docs/deltas.md has the figures and the
choice.

    .venv/bin/python -m bench.delta_libraries [--megabytes 64]
"""

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OURS = "detools-match-blocks-sequential-lzma (ours)"
CANDIDATES = {
    "zstd-patch-from-19": "zstandard",
    "zstd-patch-from-15": "zstandard",
    "zstd-patch-from-9": "zstandard",
    "bsdiff4": "bsdiff4",
    "detools-hdiffpatch-lzma": "detools",
    OURS: "detools",
}


def _zstd(level: int):
    import zstandard

    def build(old: Path, new: Path, patch: Path) -> None:
        reference, target = old.read_bytes(), new.read_bytes()
        window = min(31, (len(reference) + len(target)).bit_length())
        params = zstandard.ZstdCompressionParameters.from_level(
            level, source_size=len(target), window_log=window, enable_ldm=True
        )
        dictionary = zstandard.ZstdCompressionDict(
            reference, dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        compressor = zstandard.ZstdCompressor(dict_data=dictionary, compression_params=params)
        patch.write_bytes(compressor.compress(target))

    def apply(old: Path, patch: Path, out: Path, length: int) -> None:
        reference = old.read_bytes()
        dictionary = zstandard.ZstdCompressionDict(
            reference, dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        window = min(31, (len(reference) + length).bit_length())
        decompressor = zstandard.ZstdDecompressor(dict_data=dictionary, max_window_size=1 << window)
        with patch.open("rb") as source, out.open("wb") as sink:
            decompressor.copy_stream(source, sink)

    return build, apply


def _ours():
    """What the server builds and the reference car applies."""
    from signing import deltas
    from vehicle_client import delta

    def build(old, new, patch):
        with old.open("rb") as a, new.open("rb") as b, patch.open("wb") as p:
            deltas.build(a, b, p)

    def apply(old, patch, out, length):
        with old.open("rb") as a, patch.open("rb") as p, out.open("wb") as o:
            delta.apply(a, p, o, max_length=length)

    return build, apply


def _bsdiff4():
    import bsdiff4

    def build(old, new, patch):
        bsdiff4.file_diff(str(old), str(new), str(patch))

    def apply(old, patch, out, length):
        bsdiff4.file_patch(str(old), str(out), str(patch))

    return build, apply


def _detools(algorithm: str, patch_type: str):
    import detools

    def build(old, new, patch):
        with old.open("rb") as a, new.open("rb") as b, patch.open("wb") as p:
            detools.create_patch(
                a, b, p, compression="lzma", algorithm=algorithm, patch_type=patch_type
            )

    def apply(old, patch, out, length):
        with old.open("rb") as a, patch.open("rb") as p, out.open("wb") as o:
            detools.apply_patch(a, p, o)

    return build, apply


def _functions(name: str):
    if name.startswith("zstd-patch-from-"):
        return _zstd(int(name.rsplit("-", 1)[1]))
    if name == "detools-hdiffpatch-lzma":
        return _detools("hdiffpatch", "hdiffpatch")
    if name == OURS:
        return _ours()
    return {"bsdiff4": _bsdiff4}[name]()


def _child(name: str, step: str, old: str, new: str, patch: str, out: str) -> None:
    """One step in this process; prints its seconds and peak resident MiB as JSON."""
    build, apply = _functions(name)
    start = time.perf_counter()
    if step == "build":
        build(Path(old), Path(new), Path(patch))
    else:
        apply(Path(old), Path(patch), Path(out), Path(new).stat().st_size)
    seconds = time.perf_counter() - start
    peak = _high_water_mib()
    print(json.dumps({"seconds": seconds, "peak_mib": peak}))


def _high_water_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited through
    exec from the parent that holds both images)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _run(name: str, step: str, *paths: Path) -> dict:
    done = subprocess.run(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "bench.delta_libraries", "--child", name, step, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=64)
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return {}

    from bench.delta_images import image_pair

    work = Path(tempfile.mkdtemp(prefix="delta-bench-"))
    old, new = work / "old.bin", work / "new.bin"
    old_bytes, new_bytes = image_pair(args.megabytes)
    old.write_bytes(old_bytes)
    new.write_bytes(new_bytes)
    print(f"Images of {args.megabytes} MiB: version N+1 is {len(new_bytes):,} bytes")
    print(
        f"{'library':38} {'patch':>12} {'of full':>8} {'build':>8} {'peak':>9} "
        f"{'apply':>7} {'peak':>9}"
    )
    results = {}
    for name, module in CANDIDATES.items():
        if importlib.util.find_spec(module) is None:
            print(f"{name:38} not installed (pip install {module})")
            continue
        patch, out = work / f"{name}.patch", work / f"{name}.out"
        built = _run(name, "build", old, new, patch, out)
        applied = _run(name, "apply", old, new, patch, out)
        assert out.read_bytes() == new_bytes, f"{name}: the applied patch is not version N+1"
        size = patch.stat().st_size
        results[name] = {"patch_bytes": size, "build": built, "apply": applied}
        print(
            f"{name:38} {size:>12,} {size / len(new_bytes):>7.1%} {built['seconds']:>7.1f}s "
            f"{built['peak_mib']:>7.0f}MiB {applied['seconds']:>6.1f}s "
            f"{applied['peak_mib']:>7.0f}MiB"
        )
    return results


if __name__ == "__main__":
    main()
