"""The release export's manifest is checked in full before anything is read from it."""

import json

import pytest

from federation.package import FORMAT, PackageError, parse_manifest

GOOD = {
    "format": FORMAT,
    "markets": ["CN"],
    "release": {
        "version": "1.0",
        "author": "erin",
        "approved_by": "ada",
        "approved_at": "2026-12-01T00:00:00+00:00",
    },
    "market_approvals": [
        {
            "market": "CN",
            "approved_by": "hana",
            "approved_at": "2026-12-01T00:00:00+00:00",
            "assessments": [
                {"model": "Aurora", "affects_type_approval": False, "rationale": "none"}
            ],
        }
    ],
    "rxswins": [{"model": "Aurora", "market": "CN", "rxswin": "R1"}],
    "bundles": [
        {
            "path": "hu/a.bin",
            "hardware_id": "hu",
            "version": "1",
            "release_counter": 1,
            "length": 3,
            "sha256": "a" * 64,
            "sha512": "b" * 128,
            "file": "bundles/" + "a" * 64,
        }
    ],
}


def test_a_complete_manifest_is_accepted():
    assert parse_manifest(json.dumps(GOOD).encode())["release"]["version"] == "1.0"


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.update(format="other/1"),
        lambda m: m["release"].pop("approved_by"),
        lambda m: m["market_approvals"][0]["assessments"][0].update(affects_type_approval="no"),
        lambda m: m.update(rxswins={"not": "a list"}),
        lambda m: m["bundles"][0].update(file="../../etc/passwd"),
        lambda m: m["bundles"][0].update(sha256="A" * 64),
        lambda m: m.update(bundles=[]),
    ],
)
def test_a_manifest_missing_or_bending_any_part_is_refused(change):
    manifest = json.loads(json.dumps(GOOD))
    change(manifest)

    with pytest.raises(PackageError):
        parse_manifest(json.dumps(manifest).encode())


def test_a_manifest_that_is_not_json_is_refused():
    with pytest.raises(PackageError, match="not JSON"):
        parse_manifest(b"\xff{")
