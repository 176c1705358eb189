"""What hashing and storing a bundle costs, against raw hashlib on the same bytes.

Writes a random file, then times (best of --repeat):
- our streaming digests (`signing.uploads.digest_stream`: SHA-256 and SHA-512 in one pass of
  1 MiB chunks) against `hashlib.file_digest` for each algorithm;
- the whole ingest of a bundle (`bundle_ingest_file`: hash, then store content-addressed in
  local storage) against hashing with hashlib and copying the file with `shutil`;
and the peak Python heap of the ingest (it streams: this should not grow with the size).

    .venv/bin/python -m bench.hashing [--megabytes 256]
"""

import argparse
import hashlib
import os
import shutil
import time
import tracemalloc
from pathlib import Path


def best(function, repeat: int, prepare=lambda: None) -> float:
    times = []
    for _ in range(repeat):
        prepare()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from bench._django import django_up

    var = django_up()
    from signing.services.bundles import BundleSpec, bundle_ingest_file
    from signing.uploads import digest_stream

    source = var / "bundle.bin"
    with source.open("wb") as handle:
        for _ in range(args.megabytes):
            handle.write(os.urandom(1024 * 1024))

    def ours():
        with source.open("rb") as handle:
            digest_stream(handle)

    def raw():
        for algorithm in ("sha256", "sha512"):
            with source.open("rb") as handle:
                hashlib.file_digest(handle, algorithm)

    counter = iter(range(1, 10**6))

    def new_bytes():
        # Blobs are content-addressed: the same bytes twice would be stored once.
        with source.open("r+b") as handle:
            handle.write(os.urandom(64))

    def ingest():
        number = next(counter)
        spec = BundleSpec(
            path=f"hu-gen7/bench-{number}.bin",
            hardware_id="hu-gen7",
            version=f"9.{number}",
            release_counter=number,
        )
        with source.open("rb") as handle:
            bundle_ingest_file(spec=spec, stream=handle, actor=None)

    def hash_and_copy():
        raw()
        shutil.copyfile(source, Path(var) / "copy.bin")

    result = {
        "digests_s": best(ours, args.repeat),
        "hashlib_s": best(raw, args.repeat),
        "ingest_s": best(ingest, args.repeat, prepare=new_bytes),
        "hash_and_copy_s": best(hash_and_copy, args.repeat),
    }
    new_bytes()
    tracemalloc.start()
    ingest()
    result["ingest_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    result["digests_ratio"] = result["digests_s"] / result["hashlib_s"]
    result["ingest_ratio"] = result["ingest_s"] / result["hash_and_copy_s"]

    mb = args.megabytes
    print(f"Hashing a {mb} MiB bundle (SHA-256 and SHA-512), best of {args.repeat}")
    print(
        f"  our digests  {result['digests_s']:6.2f} s   hashlib.file_digest x2 "
        f"{result['hashlib_s']:6.2f} s   ratio {result['digests_ratio']:.2f}"
    )
    print(
        f"  ingest       {result['ingest_s']:6.2f} s   hashlib + shutil.copyfile "
        f"{result['hash_and_copy_s']:6.2f} s   ratio {result['ingest_ratio']:.2f}"
    )
    print(f"  ingest peak Python heap: {result['ingest_peak_mib']:.1f} MiB for {mb} MiB")
    return result


if __name__ == "__main__":
    main()
