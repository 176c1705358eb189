"""A realistic pair of firmware images for delta benchmarks: version N and N+1.

An image is code (functions of 4 KiB whose 32-bit pointers hold the addresses of other
functions), tables of text, and compressed assets (incompressible). Version N+1 changes what a
real build changes: 2 % of the functions edited, 1 % new ones inserted and 0.5 % removed, so
every pointer past an insertion moves (the relocation that defeats naive diffs), a few strings
reworded, one asset replaced. Deterministic for a seed.

    .venv/bin/python -m bench.delta_images --megabytes 64 old.bin new.bin
"""

import argparse
import random
import struct
from pathlib import Path

FUNCTION = 4096
POINTERS = 64  # per function: one word in sixteen is an address


def _function(rng: random.Random) -> bytes:
    return rng.randbytes(FUNCTION - 4 * POINTERS)


def _code(bodies: list[bytes], targets: list[list[int]], base: int) -> bytes:
    """Lay the functions out from `base`, each pointer the address of its target function."""
    addresses = [base + i * FUNCTION for i in range(len(bodies))]
    out = bytearray()
    for body, pointing in zip(bodies, targets, strict=True):
        words = struct.pack(f"<{POINTERS}I", *(addresses[t % len(bodies)] for t in pointing))
        step = len(body) // POINTERS
        for i in range(POINTERS):  # a pointer after every slice of instructions
            out += body[i * step : (i + 1) * step] + words[4 * i : 4 * i + 4]
    return bytes(out)


def _text(rng: random.Random, size: int) -> bytearray:
    words = [rng.randbytes(rng.randint(3, 9)).hex() for _ in range(4000)]
    out = bytearray()
    while len(out) < size:
        out += (" ".join(rng.choices(words, k=12)) + "\n").encode()
    return out[:size]


def image_pair(megabytes: int, seed: int = 1) -> tuple[bytes, bytes]:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    size = megabytes << 20
    code_size, text_size = int(size * 0.6), int(size * 0.2)
    asset = size // 32  # one asset in six is replaced: 3 % of the image is new bytes
    assets = [rng.randbytes(asset) for _ in range((size - code_size - text_size) // asset)]
    count = code_size // FUNCTION
    bodies = [_function(rng) for _ in range(count)]
    targets = [[rng.randrange(count) for _ in range(POINTERS)] for _ in range(count)]
    text = _text(rng, text_size)
    old = _code(bodies, targets, 0x0800_0000) + bytes(text) + b"".join(assets)

    # Version N+1: edits, insertions and removals move every later function, so its pointers.
    new_bodies, new_targets = list(bodies), [list(t) for t in targets]
    for index in rng.sample(range(count), count // 50):
        body = bytearray(new_bodies[index])
        start = rng.randrange(len(body) - 400)
        body[start : start + 400] = rng.randbytes(400)
        new_bodies[index] = bytes(body)
    for _ in range(count // 200):
        index = rng.randrange(len(new_bodies))
        del new_bodies[index], new_targets[index]
    for _ in range(count // 100):
        index = rng.randrange(len(new_bodies))
        new_bodies.insert(index, _function(rng))
        new_targets.insert(index, [rng.randrange(count) for _ in range(POINTERS)])
    for _ in range(200):  # reworded strings
        at = rng.randrange(len(text) - 64)
        text[at : at + 32] = rng.randbytes(16).hex().encode()
    assets[rng.randrange(len(assets))] = rng.randbytes(asset)
    new = _code(new_bodies, new_targets, 0x0800_0000) + bytes(text) + b"".join(assets)
    return old, new


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    old, new = image_pair(args.megabytes, args.seed)
    args.old.write_bytes(old)
    args.new.write_bytes(new)


if __name__ == "__main__":
    main()
