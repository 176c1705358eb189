"""The whole of a regulated release through the management API: EU and CN keep bundles in
Azure containers of their own; a release for both cannot start in CN before its CN approval;
approved, copied, verified and rolled out, each car downloads from its own market's storage,
its RXSWIN moves as its market's assessment says, and the evidence export of each VIN lists
the update with its approvals and verifies with the published key, until a byte changes."""

import subprocess

import pytest

from tests.compliance.test_evidence import _download
from tests.conftest import ALL_AT_ONCE, vehicle_api

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _verifies(export: dict, folder) -> bool:
    run = subprocess.run(export["verify"], shell=True, cwd=folder, capture_output=True)  # noqa: S602
    return run.returncode == 0


def test_a_regulated_release_reaches_eu_and_cn_from_their_own_storage_with_its_evidence(
    type_approval,
    azure_markets,
    car_over_http,
    publish,
    engineer_api,
    approver_api,
    homologation_api,
    aurora_rxswins,
    tmp_path,
):
    containers, _ = azure_markets
    cars = {"EU": car_over_http(region="EU"), "CN": car_over_http(region="CN")}
    aurora_rxswins(*cars)
    bundle, _ = publish(hardware_id="hu-gen7")
    release = engineer_api.post(
        "/api/v1/manage/releases",
        {"version": "13.0.0", "bundles": [bundle.pk], "regions": ["EU", "CN"]},
        format="json",
    ).json()
    assert approver_api.post(f"/api/v1/manage/releases/{release['id']}/approve").status_code == 200
    rollout = engineer_api.post(
        "/api/v1/manage/rollouts",
        {"release": release["id"], "channel": "stable", "stages": ALL_AT_ONCE},
        format="json",
    ).json()
    approver_api.post(f"/api/v1/manage/rollouts/{rollout['id']}/approve")
    start = f"/api/v1/manage/rollouts/{rollout['id']}/start"
    body = {"override_reason": "test"}
    approve = f"/api/v1/manage/releases/{release['id']}/markets/{{}}/approve"

    def approve_market(market: str):
        answer = homologation_api.post(
            approve.format(market),
            {
                "assessments": [
                    {
                        "model": "Aurora",
                        "affects_type_approval": True,
                        "rationale": "Automated lane keeping parameters change.",
                        "new_rxswin": f"R156-AUR-{market}-0002",
                    }
                ]
            },
            format="json",
        )
        assert answer.status_code == 201, answer.json()

    refused = approver_api.post(start, body, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "market_approval_missing"
    assert refused.json()["error"]["detail"]["markets"] == ["EU", "CN"]

    approve_market("EU")
    assert approver_api.post(start, body, format="json").status_code == 200
    assert cars["EU"].poll_cycle().installed
    assert cars["CN"].poll_cycle().offered == []  # not in CN before CN approves

    approve_market("CN")
    markets = {
        m["market"]: m
        for m in engineer_api.get(f"/api/v1/manage/releases/{release['id']}/markets").json()
    }
    assert {m: (s["type_approval"], s["copies"]["verified"]) for m, s in markets.items()} == {
        "EU": ("approved", 1),
        "CN": ("approved", 1),
    }
    assert cars["CN"].poll_cycle().installed  # python-tuf verified, through a SAS URL

    for market, car in cars.items():
        located = vehicle_api(car.token).get(f"/api/v1/tuf/image/targets/{bundle.path}")
        assert f"/{containers[market]}/" in located["Location"]  # its own market's storage
        moved = homologation_api.get(f"/api/v1/manage/vehicles/{car.vin}/rxswin").json()
        assert moved["rxswin"] == f"R156-AUR-{market}-0002"
        asked = homologation_api.post(
            "/api/v1/manage/evidence/exports", {"scope": "vin", "vin": car.vin}, format="json"
        ).json()
        export = homologation_api.get(asked["links"]["self"]).json()
        assert export["status"] == "ready"
        folder = tmp_path / market
        folder.mkdir()
        _download(homologation_api, export, folder)
        text = (folder / export["file_name"]).read_text()
        facts = ("13.0.0", "offered", "installed", "hana", "ada", f"R156-AUR-{market}-0002")
        assert all(fact in text for fact in facts)
        assert _verifies(export, folder)
        changed = bytearray((folder / export["file_name"]).read_bytes())
        changed[-5] ^= 0x20
        (folder / export["file_name"]).write_bytes(bytes(changed))
        assert not _verifies(export, folder)
