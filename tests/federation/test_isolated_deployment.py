"""An isolated market runs its own deployment (its own database, storage and keys): it
imports a release the main deployment exported, verifies it in full before publishing, and
sends back only the aggregate counts its operator exports."""

import json
import shutil

import pytest
from django.core.management import call_command

from compliance.models import KeyPurpose
from compliance.services.keys import export_key_active, public_key_pem
from ota_testing.server import ServerProcess

pytestmark = pytest.mark.django_db

STAGES = [{"percent": 100, "min_soak_minutes": 0, "gate": "auto", "max_duration_minutes": 60}]


@pytest.fixture
def exported(type_approval, publish, engineer_api, approver_api, homologation_api, tmp_path):
    """Release 12.0.0 for CN, approved there with a new RXSWIN, exported by the main
    deployment; and the PEM of its release export key, as the CN operator is given it."""
    homologation_api.post(
        "/api/v1/manage/rxswins",
        {"model": "Aurora", "market": "CN", "rxswin": "R156-AUR-CN-0001"},
        format="json",
    )
    bundle, _ = publish(hardware_id="hu-gen7")
    release = engineer_api.post(
        "/api/v1/manage/releases",
        {"version": "12.0.0", "bundles": [bundle.pk], "regions": ["CN"], "models": ["Aurora"]},
        format="json",
    ).json()
    approver_api.post(f"/api/v1/manage/releases/{release['id']}/approve")
    approved = homologation_api.post(
        f"/api/v1/manage/releases/{release['id']}/markets/CN/approve",
        {
            "assessments": [
                {
                    "model": "Aurora",
                    "affects_type_approval": True,
                    "rationale": "Adaptive cruise control (UN R157 relevant) update.",
                    "new_rxswin": "R156-AUR-CN-0002",
                }
            ]
        },
        format="json",
    )
    assert approved.status_code == 201, approved.json()
    out = tmp_path / "export"
    call_command("release_export", "12.0.0", "--out", str(out), "--market", "CN")
    pem = tmp_path / "main-releases.pem"
    pem.write_text(public_key_pem(export_key_active(KeyPurpose.RELEASES)))
    return out, pem


@pytest.fixture
def cn_deployment(exported, tmp_path):
    _, pem = exported
    (tmp_path / "cn").mkdir()
    process = ServerProcess(
        tmp_path / "cn",
        settings={
            "OTA_REGIONS": "CN",
            "OTA_DEPLOYMENT_NAME": "cn-1",
            "OTA_RELEASE_IMPORT_KEYS": str(pem),
        },
    )
    server = process.start()
    try:
        yield process, server
    finally:
        server.close()
        process.stop()


def _versions(server) -> list[str]:
    return [r["version"] for r in server.author.get("manage/releases")]


def test_a_release_exported_by_the_main_deployment_is_verified_and_published_by_the_cn_one(
    exported, cn_deployment, tmp_path
):
    folder, _ = exported
    process, server = cn_deployment

    imported = process.manage("release_import", str(folder))

    assert imported.returncode == 0, imported.stderr
    release = next(r for r in server.author.get("manage/releases") if r["version"] == "12.0.0")
    assert release["status"] == "approved"
    markets = server.author.get(f"manage/releases/{release['id']}/markets")
    assert [(m["market"], m["type_approval"]) for m in markets] == [("CN", "approved")]
    cars = server.fleet(2, region="CN", model="Aurora")
    server.rollout(release, stages=STAGES, fleet=cars)
    results = cars.poll_cycle()  # full Uptane checks against the CN deployment's own keys
    assert all(r.installed for r in results)
    moved = server.approver.get(f"manage/vehicles/{cars[0].vin}/rxswin")
    assert moved["rxswin"] == "R156-AUR-CN-0002"

    report = tmp_path / "cn-aggregates.json"
    sent = process.manage("aggregates_export", "--out", str(report))
    assert sent.returncode == 0, sent.stderr
    counts = json.loads(report.read_text())
    row = next(r for r in counts["releases"] if r["release"] == "12.0.0")
    assert row["counts"]["installed"] == 2 and counts["vehicles"] == {"CN": 2}
    assert not any(car.vin in report.read_text() for car in cars)  # no vehicle leaves
    assert (tmp_path / "cn-aggregates.json.sig").exists()


def test_a_bundle_changed_on_the_way_is_refused_and_nothing_is_published(
    exported, cn_deployment, tmp_path
):
    folder, _ = exported
    process, server = cn_deployment
    changed = tmp_path / "changed"
    shutil.copytree(folder, changed)
    blob = next((changed / "bundles").iterdir())
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))

    refused = process.manage("release_import", str(changed))

    assert refused.returncode == 1
    assert ": the file does not match its length and hashes" in refused.stderr
    assert "Refused: hu-gen7/" in refused.stderr
    assert "12.0.0" not in _versions(server)


def test_a_manifest_not_signed_by_the_trusted_key_is_refused(exported, cn_deployment, tmp_path):
    folder, _ = exported
    process, server = cn_deployment
    forged = tmp_path / "forged"
    shutil.copytree(folder, forged)
    manifest = json.loads((forged / "release.json").read_text())
    manifest["markets"] = ["CN", "EU"]
    (forged / "release.json").write_text(json.dumps(manifest))

    refused = process.manage("release_import", str(forged))

    assert refused.returncode == 1
    assert "Refused: the manifest's signature is not by a trusted key" in refused.stderr
    assert "12.0.0" not in _versions(server)


def test_a_trusted_key_file_that_cannot_be_read_fails_the_start_up_checks(settings, tmp_path):
    from django.core.checks import run_checks

    (tmp_path / "not-a-key.pem").write_text("hello")
    settings.OTA_RELEASE_IMPORT_KEYS = [
        str(tmp_path / "missing.pem"),
        str(tmp_path / "not-a-key.pem"),
    ]

    found = [e.id for e in run_checks() if e.id.startswith("federation.")]

    assert found == ["federation.E001", "federation.E001"]  # missing; not a PEM key


def test_a_release_leaves_only_for_a_market_it_targets_and_is_approved_in(
    type_approval, publish, engineer_api, approver_api, tmp_path
):
    from django.core.management.base import CommandError

    bundle, _ = publish(hardware_id="hu-gen7")
    release = engineer_api.post(
        "/api/v1/manage/releases",
        {"version": "12.1.0", "bundles": [bundle.pk], "regions": ["EU", "CN"]},
        format="json",
    ).json()
    approver_api.post(f"/api/v1/manage/releases/{release['id']}/approve")

    for market, why in (("US", "not_targeted"), ("CN", "unapproved")):
        with pytest.raises(CommandError, match=why):
            call_command("release_export", "12.1.0", "--out", str(tmp_path), "--market", market)
    assert not (tmp_path / "release.json").exists()
