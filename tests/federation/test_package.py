"""The release export's manifest is checked in full before anything is read from it, each
field by the rule the management API applies to it."""

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
        lambda m: m["bundles"][0].update(path="hu/a.bin\n"),  # `$` alone would take it
        lambda m: m["bundles"][0].update(path="deep/" * 40 + "a.bin"),  # over 200 characters
        lambda m: m["bundles"][0].update(hardware_id="hu\n"),
        lambda m: m["bundles"][0].update(release_counter=-1),
        lambda m: m["bundles"][0].update(release_counter=True),
        lambda m: m["bundles"][0].update(release_counter=2**31),
        lambda m: m["bundles"][0].update(length=2**63),
        lambda m: m["bundles"][0].update(version="x" * 65),
        lambda m: m["bundles"][0].update(file="bundles/" + "c" * 64),  # not its own sha256
        lambda m: m["bundles"][0].update(requires={"../x": 1}),
        lambda m: m["bundles"][0].update(requires={"bms": 2**63}),
        lambda m: m["bundles"][0].update(surprise=1),
        lambda m: m["bundles"].append({**m["bundles"][0], "path": "hu/b.bin"}),  # hu twice
        lambda m: m["release"].update(version=""),
        lambda m: m["release"].update(notes="n" * 20001),
        lambda m: m["release"].update(models=["m" * 65]),
        lambda m: m["release"].update(install_policy={"urgency": "whenever"}),
        lambda m: m["release"].update(
            install_policy={"windows": [{"days": [["mon"]], "start": "01:00", "end": "02:00"}]}
        ),
        lambda m: m["release"].update(approved_at="2026-13-01T00:00:00+00:00"),
        lambda m: m["release"].update(approved_at="2026-12-01T00:00:00"),  # no offset
        lambda m: m["release"].update(author="ada lovelace"),
        lambda m: m["release"].update(notes="a NUL \x00 in notes"),
        lambda m: m["release"].update(notes="an unpaired \ud800 surrogate"),
        lambda m: m.update(markets=["CN", "CN"]),
        lambda m: m.update(markets=[]),
        lambda m: m["market_approvals"].append(m["market_approvals"][0]),
        lambda m: m["market_approvals"][0].update(market="EU"),  # not exported for EU
        lambda m: m["market_approvals"][0].update(market=["CN"]),
        lambda m: m["rxswins"][0].update(market={"CN": 1}),
        lambda m: m["market_approvals"][0]["assessments"][0].update(rationale=" "),
        lambda m: m["market_approvals"][0]["assessments"][0].update(
            affects_type_approval=True, new_rxswin="R156!"
        ),
        lambda m: m["rxswins"][0].update(rxswin="R 1 "),
        lambda m: m["rxswins"][0].update(market="US"),
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


def test_a_manifest_nested_too_deeply_is_refused():
    with pytest.raises(PackageError, match="nested too deeply"):
        parse_manifest(b"[" * 100_000 + b"]" * 100_000)
