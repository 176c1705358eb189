"""The manifest's shape, checked without DRF on the hot path, agrees with the serializer that
documents it in the OpenAPI schema."""

import copy
import json

import pytest

from rollouts import manifest_checks
from rollouts.api.vehicle import ManifestSerializer
from rollouts.manifest_checks import manifest_problems

KEYID = "a" * 64
GOOD = {
    "signed": {
        "vin": "1HGCM82633A004352",
        "primary_ecu_serial": "TCU-1",
        "report_counter": 7,
        "ecu_version_reports": {
            "TCU-1": {
                "signed": {
                    "ecu_serial": "TCU-1",
                    "hardware_id": "tcu-gen3",
                    "installed_image": {
                        "filepath": "tcu-gen3/factory.bin",
                        "fileinfo": {"length": 10, "hashes": {"sha256": "b" * 64}},
                    },
                    "report_counter": 7,
                    "attacks_detected": "",
                },
                "signatures": [{"keyid": KEYID, "sig": "cd" * 32}],
            }
        },
        "state": {"parked": True, "battery_soc_pct": 78, "network": "wifi"},
    },
    "signatures": [{"keyid": KEYID, "sig": "ef" * 32}],
}


def report(manifest):
    return manifest["signed"]["ecu_version_reports"]["TCU-1"]


def fileinfo(manifest):
    return report(manifest)["signed"]["installed_image"]["fileinfo"]


BREAKAGES = {
    "not an object": lambda m: m.clear() or m.update(signed=[]),
    "no signatures": lambda m: m.update(signatures=[]),
    "signatures not a list": lambda m: m.update(signatures={}),
    "nine signatures": lambda m: m.update(signatures=m["signatures"] * 9),
    "a short keyid": lambda m: m["signatures"][0].update(keyid="ab"),
    "an upper-case signature": lambda m: m["signatures"][0].update(sig="AB"),
    "an unknown field on a signature": lambda m: m["signatures"][0].update(method="x"),
    "an unknown top-level field": lambda m: m.update(extra=True),
    "no signed part": lambda m: m.pop("signed"),
    "counter as a string": lambda m: m["signed"].update(report_counter="7"),
    "counter as a boolean": lambda m: m["signed"].update(report_counter=True),
    "negative counter": lambda m: m["signed"].update(report_counter=-1),
    "counter too large": lambda m: m["signed"].update(report_counter=2**62 + 1),
    "a VIN too long": lambda m: m["signed"].update(vin="X" * 18),
    "a blank primary serial": lambda m: m["signed"].update(primary_ecu_serial=" "),
    "reports as a list": lambda m: m["signed"].update(ecu_version_reports=[]),
    "no reports": lambda m: m["signed"].update(ecu_version_reports={}),
    "65 reports": lambda m: m["signed"]["ecu_version_reports"].update(
        {f"ECU{i}": report(m) for i in range(65)}
    ),
    "state not an object": lambda m: m["signed"].update(state=[]),
    "an unknown field on a report": lambda m: report(m).update(extra=1),
    "an image without fileinfo": lambda m: report(m)["signed"].update(
        installed_image={"filepath": "x"}
    ),
    "hashes without sha256": lambda m: fileinfo(m).update(hashes={"sha512": "c" * 128}),
    "a hash too long": lambda m: fileinfo(m)["hashes"].update(sha512="d" * 129),
    "a sha256 longer than one": lambda m: fileinfo(m)["hashes"].update(sha256="d" * 65),
    "a sha256 in capitals": lambda m: fileinfo(m)["hashes"].update(sha256="D" * 64),
    "a negative length": lambda m: fileinfo(m).update(length=-1),
    "a length no bigint holds": lambda m: fileinfo(m).update(length=2**63),
    "a numeric hardware id": lambda m: report(m)["signed"].update(hardware_id=7),
    "a NUL in a serial": lambda m: m["signed"].update(primary_ecu_serial="TCU\x00"),
}


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_the_check_and_the_documented_schema_both_refuse(breakage):
    manifest = copy.deepcopy(GOOD)
    breakage(manifest)
    assert manifest_problems(manifest)
    assert not ManifestSerializer(data=manifest).is_valid()


def test_the_check_and_the_documented_schema_both_accept_a_good_manifest():
    assert manifest_problems(copy.deepcopy(GOOD)) == {}
    assert ManifestSerializer(data=copy.deepcopy(GOOD)).is_valid()


def test_problems_name_the_field_like_drf_does():
    manifest = copy.deepcopy(GOOD)
    manifest["signed"]["vin"] = 17
    assert manifest_problems(manifest) == {"signed": {"vin": ["Not a valid string."]}}


@pytest.mark.parametrize("text", ["\x00", "\ud800"], ids=["NUL", "lone surrogate"])
def test_nul_and_lone_surrogates_are_refused_anywhere_even_in_state_keys(text):
    manifest = copy.deepcopy(GOOD)
    manifest["signed"]["state"][f"key{text}"] = 1
    assert "non_field_errors" in manifest_problems(manifest)
    # With the body's text at hand too: JSON can only carry them as \\u escapes.
    assert "non_field_errors" in manifest_problems(manifest, json.dumps(manifest))


def test_a_body_without_escapes_is_not_walked_for_bad_text(monkeypatch):
    walked = []
    monkeypatch.setattr(manifest_checks, "bad_text", lambda value: walked.append(value) or "")
    manifest = copy.deepcopy(GOOD)
    assert manifest_problems(manifest, json.dumps(manifest, ensure_ascii=False)) == {}
    assert walked == []
    manifest["signed"]["state"]["name"] = "caf\u00e9"
    manifest_problems(manifest, json.dumps(manifest))  # é goes out as an escape
    assert len(walked) == 1
