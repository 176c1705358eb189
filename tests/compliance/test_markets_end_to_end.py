"""The whole of a regulated release through the management API: EU and CN keep bundles in
Azure containers of their own; a release for both cannot start in CN before its CN approval;
approved, copied, verified and rolled out, each car downloads from its own market's storage,
its RXSWIN moves where the assessment says, and the evidence export of one VIN lists the
update with its approvals and verifies with the published key."""

import subprocess

import pytest

from tests.compliance.test_evidence import _download
from tests.conftest import ALL_AT_ONCE, vehicle_api

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_regulated_release_reaches_eu_and_cn_from_their_own_storage_with_its_evidence(
    type_approval,
    azure_markets,
    car_over_http,
    publish,
    engineer_api,
    approver_api,
    homologation_api,
    tmp_path,
):
    containers, _ = azure_markets
    eu, cn = car_over_http(region="EU"), car_over_http(region="CN")
    for market in ("EU", "CN"):
        homologation_api.post(
            "/api/v1/manage/rxswins",
            {"model": "Aurora", "market": market, "rxswin": f"R156-AUR-{market}-0001"},
            format="json",
        )
    bundle, _ = publish(hardware_id="hu-gen7")
    release = engineer_api.post(
        "/api/v1/manage/releases",
        {"version": "13.0.0", "bundles": [bundle.pk], "regions": ["EU", "CN"]},
        format="json",
    ).json()
    assert approver_api.post(f"/api/v1/manage/releases/{release['id']}/approve").status_code == 200
    rollout = engineer_api.post(
        "/api/v1/manage/rollouts",
        {"release": release["id"], "channel": "stable", "stages": ALL_AT_ONCE, "regions": ["CN"]},
        format="json",
    ).json()
    approver_api.post(f"/api/v1/manage/rollouts/{rollout['id']}/approve")
    start = f"/api/v1/manage/rollouts/{rollout['id']}/start"
    body = {"override_reason": "test"}

    refused = approver_api.post(start, body, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "market_approval_missing"

    approve = f"/api/v1/manage/releases/{release['id']}/markets/{{}}/approve"
    for market in ("EU", "CN"):
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
    assert approver_api.post(start, body, format="json").status_code == 200
    markets = {
        m["market"]: m
        for m in engineer_api.get(f"/api/v1/manage/releases/{release['id']}/markets").json()
    }
    assert markets["CN"]["copies"] == {"verified": 1, "copying": 0, "failed": 0, "bundles": 1}

    assert cn.poll_cycle().installed  # verified by python-tuf, downloaded through a SAS URL
    located = vehicle_api(cn.token).get(f"/api/v1/tuf/image/targets/{bundle.path}")
    assert f"/{containers['CN']}/" in located["Location"]
    assert eu.poll_cycle().offered == []  # this rollout is CN's only

    moved = homologation_api.get(f"/api/v1/manage/vehicles/{cn.vin}/rxswin").json()
    assert moved["rxswin"] == "R156-AUR-CN-0002"
    asked = homologation_api.post(
        "/api/v1/manage/evidence/exports", {"scope": "vin", "vin": cn.vin}, format="json"
    ).json()
    export = homologation_api.get(asked["links"]["self"]).json()
    assert export["status"] == "ready"
    _download(homologation_api, export, tmp_path)
    text = (tmp_path / export["file_name"]).read_text()
    assert all(fact in text for fact in ("13.0.0", "installed", "hana", "ada", "R156-AUR-CN-0002"))
    verified = subprocess.run(export["verify"], shell=True, cwd=tmp_path, capture_output=True)  # noqa: S602
    assert verified.returncode == 0
