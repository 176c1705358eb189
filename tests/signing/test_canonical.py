"""The fast canonical JSON writes exactly what securesystemslib's reference writes."""

import random

import pytest
from securesystemslib.formats import encode_canonical

from signing.canonical import canonical_json

TRICKY = ['"', "\\", "\\n", "\n", "\t", "\x01", "\x7f", "é", "\u2028", "💡", ":1.5", "[2e3"]


def document(rng: random.Random, depth: int = 0):
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        parts = [*TRICKY, "a", "Z", "0", " ", "/"]
        return "".join(rng.choice(parts) for _ in range(rng.randrange(6)))
    if kind == 1:
        return rng.choice([0, -1, 7, 2**62, -(2**70), 10**30])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.choice(["", "hu-gen7/hu-7.2.0.bin", "sha256"])
    if kind in (4, 5):
        keys = [rng.choice([*TRICKY, "a", "b", "B", "é", ""]) + str(i) for i in range(5)]
        return {key: document(rng, depth + 1) for key in keys[: rng.randrange(6)]}
    return [document(rng, depth + 1) for _ in range(rng.randrange(5))]


@pytest.mark.parametrize("seed", range(300))
def test_it_writes_the_reference_bytes(seed):
    value = document(random.Random(seed))
    assert canonical_json(value) == encode_canonical(value).encode("utf-8")


@pytest.mark.parametrize("value", [{"a": 1.5}, [1e3], {"x": [0.0]}, {"n": float("nan")}])
def test_it_refuses_floats_like_the_reference(value):
    with pytest.raises(Exception):  # noqa: B017 - whatever the reference raises
        canonical_json(value)
