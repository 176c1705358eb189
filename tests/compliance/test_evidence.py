"""Each vehicle's RXSWIN moves with the updates that change it, every offer and outcome is
kept as evidence with the release's approvals, and an export of it verifies with the
published key and nothing but OpenSSL and sha256sum."""

import subprocess

import pytest

from compliance.models import EvidenceRecord
from tests.conftest import ALL_AT_ONCE

pytestmark = pytest.mark.django_db


def _ship_to_eu_and_cn(aurora_rxswins, ship, bundle):
    """10.0.0 to EU, where it changes Aurora's RXSWIN, and to CN, where it does not."""
    aurora_rxswins("EU", "CN")
    affected = {
        "model": "Aurora",
        "affects_type_approval": True,
        "rationale": "Emergency lane keeping (UN R79) thresholds change.",
        "new_rxswin": "R156-AUR-EU-0002",
    }
    unaffected = {
        "model": "Aurora",
        "affects_type_approval": False,
        "rationale": "The CN variant has no lane keeping.",
    }
    ship(
        [bundle],
        version="10.0.0",
        regions=["EU", "CN"],
        markets={"EU": [affected], "CN": [unaffected]},
    )


def test_an_update_that_changes_type_approval_moves_the_vehicles_rxswin_in_that_market_only(
    type_approval, publish, car, engineer_api, approver_api, homologation_api, ship, aurora_rxswins
):
    eu, cn = car(region="EU"), car(region="CN")
    bundle, _ = publish(hardware_id="hu-gen7")
    _ship_to_eu_and_cn(aurora_rxswins, ship, bundle)
    before = homologation_api.get(f"/api/v1/manage/vehicles/{eu.vin}/rxswin").json()
    assert before["rxswin"] == "R156-AUR-EU-0001" and before["since"] is None

    assert eu.poll_cycle().installed and cn.poll_cycle().installed

    after = homologation_api.get(f"/api/v1/manage/vehicles/{eu.vin}/rxswin").json()
    assert after["rxswin"] == "R156-AUR-EU-0002" and after["release"] == "10.0.0"
    unchanged = homologation_api.get(f"/api/v1/manage/vehicles/{cn.vin}/rxswin").json()
    assert unchanged["rxswin"] == "R156-AUR-CN-0001"
    installed = EvidenceRecord.objects.get(vin=eu.vin, kind="installed")
    assert (installed.rxswin_before, installed.rxswin_after) == (
        "R156-AUR-EU-0001",
        "R156-AUR-EU-0002",
    )
    offered = EvidenceRecord.objects.get(vin=eu.vin, kind="offered")
    assert (offered.rxswin_before, offered.rxswin_after) == ("R156-AUR-EU-0001",) * 2
    assert (offered.model, offered.market) == ("Aurora", "EU")


def test_an_offer_after_an_install_that_moved_the_rxswin_is_recorded_with_the_new_one(
    type_approval, publish, car, ship, aurora_rxswins
):
    eu = car(region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")
    _ship_to_eu_and_cn(aurora_rxswins, ship, bundle)
    assert eu.poll_cycle().installed
    later, _ = publish(hardware_id="hu-gen7")
    unaffected = {"model": "Aurora", "affects_type_approval": False, "rationale": "Radio only."}
    ship([later], version="10.0.1", regions=["EU"], markets={"EU": [unaffected]})

    eu.put_manifest()

    offered = EvidenceRecord.objects.get(vin=eu.vin, kind="offered", release__version="10.0.1")
    assert (offered.rxswin_before, offered.rxswin_after) == ("R156-AUR-EU-0002",) * 2


def _download(api, export: dict, folder) -> None:
    for part, name in (
        ("file", export["file_name"]),
        ("sha256", export["file_name"] + ".sha256"),
        ("signature", export["file_name"] + ".sha256.sig"),
    ):
        answer = api.get(export["links"][part])
        assert answer.status_code == 200
        (folder / name).write_bytes(
            b"".join(answer.streaming_content) if answer.streaming else answer.content
        )
    pem = api.get(export["links"]["key"])
    assert pem.status_code == 200
    (folder / f"evidence-key-{export['key_id'][:16]}.pem").write_bytes(pem.content)


def _verifies(export: dict, folder) -> bool:
    run = subprocess.run(export["verify"], shell=True, cwd=folder, capture_output=True)  # noqa: S602
    return run.returncode == 0


@pytest.mark.parametrize("format", ["json", "csv"])
def test_the_export_for_one_vin_lists_each_update_with_its_approvals_and_verifies(
    type_approval,
    publish,
    car,
    engineer_api,
    approver_api,
    homologation_api,
    anonymous_api,
    tmp_path,
    format,
    django_capture_on_commit_callbacks,
    ship,
    aurora_rxswins,
):
    eu = car(region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")
    _ship_to_eu_and_cn(aurora_rxswins, ship, bundle)
    eu.poll_cycle()

    with django_capture_on_commit_callbacks(execute=True):  # the build task runs
        asked = homologation_api.post(
            "/api/v1/manage/evidence/exports",
            {"scope": "vin", "vin": eu.vin, "format": format},
            format="json",
        )

    assert asked.status_code == 202, asked.json()
    export = homologation_api.get(asked.json()["links"]["self"]).json()
    assert export["status"] == "ready" and export["rows"] == 2  # offered, installed
    _download(homologation_api, export, tmp_path)
    content = (tmp_path / export["file_name"]).read_text()
    for fact in (
        "offered",
        "installed",
        "10.0.0",
        "hana",
        "ada",
        "erin",
        "R156-AUR-EU-0002",
        "Emergency lane keeping",
    ):
        assert fact in content, fact
    published = anonymous_api.get("/api/v1/export-keys").json()
    assert export["key_id"] in [k["keyid"] for k in published]  # anyone can fetch the key
    assert _verifies(export, tmp_path)

    changed = bytearray((tmp_path / export["file_name"]).read_bytes())
    changed[len(changed) // 2] ^= 0x01
    (tmp_path / export["file_name"]).write_bytes(bytes(changed))
    assert not _verifies(export, tmp_path)


def test_a_forged_digest_line_fails_the_signature_check(
    type_approval,
    publish,
    car,
    engineer_api,
    approver_api,
    homologation_api,
    tmp_path,
    django_capture_on_commit_callbacks,
    ship,
    aurora_rxswins,
):
    eu = car(region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")
    _ship_to_eu_and_cn(aurora_rxswins, ship, bundle)
    eu.poll_cycle()
    with django_capture_on_commit_callbacks(execute=True):
        asked = homologation_api.post(
            "/api/v1/manage/evidence/exports", {"scope": "vin", "vin": eu.vin}, format="json"
        ).json()
    export = homologation_api.get(asked["links"]["self"]).json()
    _download(homologation_api, export, tmp_path)

    # Someone edits the export and writes its new hash into the digest line.
    edited = (tmp_path / export["file_name"]).read_bytes().replace(b"installed", b"failed!!!")
    (tmp_path / export["file_name"]).write_bytes(edited)
    import hashlib

    line = f"{hashlib.sha256(edited).hexdigest()}  {export['file_name']}\n"
    (tmp_path / (export["file_name"] + ".sha256")).write_text(line)

    assert not _verifies(export, tmp_path)


def test_only_people_with_the_right_see_evidence_exports(engineer_api, anonymous_api):
    assert engineer_api.get("/api/v1/manage/evidence/exports").status_code == 403
    assert anonymous_api.get("/api/v1/manage/evidence/exports").status_code in (401, 403)
    assert (
        engineer_api.post(
            "/api/v1/manage/evidence/exports", {"scope": "market", "market": "EU"}, format="json"
        ).status_code
        == 403
    )


def test_after_a_key_rotation_older_exports_still_verify_with_the_retired_published_key(
    type_approval,
    publish,
    car,
    engineer_api,
    approver_api,
    homologation_api,
    anonymous_api,
    tmp_path,
    django_capture_on_commit_callbacks,
    ship,
    aurora_rxswins,
):
    from django.core.management import call_command

    eu = car(region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")
    _ship_to_eu_and_cn(aurora_rxswins, ship, bundle)
    eu.poll_cycle()

    def export_now():
        with django_capture_on_commit_callbacks(execute=True):
            asked = homologation_api.post(
                "/api/v1/manage/evidence/exports", {"scope": "vin", "vin": eu.vin}, format="json"
            ).json()
        return homologation_api.get(asked["links"]["self"]).json()

    old = export_now()
    call_command("rotate_export_key", "evidence")
    new = export_now()

    assert new["key_id"] != old["key_id"]
    keys = {k["keyid"]: k for k in anonymous_api.get("/api/v1/export-keys").json()}
    assert keys[old["key_id"]]["retired_at"] and not keys[new["key_id"]]["retired_at"]
    for export, folder in ((old, tmp_path / "old"), (new, tmp_path / "new")):
        folder.mkdir()
        _download(homologation_api, export, folder)
        assert _verifies(export, folder)


def test_evidence_is_pruned_only_after_its_own_retention(settings, db):
    from datetime import timedelta

    from django.utils import timezone

    from compliance.services.evidence import evidence_prune
    from rollouts.models import Release

    release = Release.objects.create(version="0.1", created_by=_someone())
    now = timezone.now()
    settings.OTA_EVIDENCE_RETENTION_DAYS = 3650
    for age in (3649, 3651):
        EvidenceRecord.objects.create(
            vin="WNX00000000000001",
            model="Aurora",
            market="EU",
            release=release,
            kind="installed",
            at=now - timedelta(days=age),
        )

    assert evidence_prune(now=now) == 1
    assert EvidenceRecord.objects.get().at == now - timedelta(days=3649)


def _someone():
    from django.contrib.auth.models import User

    return User.objects.create_user("someone")


def test_a_revert_moves_the_rxswin_back_and_is_kept_as_evidence(
    type_approval, publish, car, engineer_api, approver_api, homologation_api, ship, aurora_rxswins
):
    from rollouts.models import Rollout

    eu = car(region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")
    _ship_to_eu_and_cn(aurora_rxswins, ship, bundle)
    eu.poll_cycle()
    bad, _ = publish(hardware_id="hu-gen7")
    release = engineer_api.post(
        "/api/v1/manage/releases", {"version": "10.1.0", "bundles": [bad.pk]}, format="json"
    ).json()
    approver_api.post(f"/api/v1/manage/releases/{release['id']}/approve")
    homologation_api.post(
        f"/api/v1/manage/releases/{release['id']}/markets/EU/approve",
        {
            "assessments": [
                {
                    "model": "Aurora",
                    "affects_type_approval": True,
                    "rationale": "Lane keeping retuned.",
                    "new_rxswin": "R156-AUR-EU-0003",
                }
            ]
        },
        format="json",
    )
    rollout = engineer_api.post(
        "/api/v1/manage/rollouts",
        {
            "release": release["id"],
            "channel": "stable",
            "stages": ALL_AT_ONCE,
            "policy": {"on_halt": "revert"},
        },
        format="json",
    ).json()
    approver_api.post(f"/api/v1/manage/rollouts/{rollout['id']}/approve")
    approver_api.post(
        f"/api/v1/manage/rollouts/{rollout['id']}/start", {"override_reason": "t"}, format="json"
    )
    eu.poll_cycle()
    assert (
        homologation_api.get(f"/api/v1/manage/vehicles/{eu.vin}/rxswin").json()["rxswin"]
        == "R156-AUR-EU-0003"
    )

    engineer_api.post(
        f"/api/v1/manage/rollouts/{rollout['id']}/halt", {"reason": "crashes"}, format="json"
    )
    assert Rollout.objects.filter(reverts_id=rollout["id"]).exists()
    assert eu.poll_cycle().installed  # the revert: the previous image under a new counter

    now = homologation_api.get(f"/api/v1/manage/vehicles/{eu.vin}/rxswin").json()
    assert now["rxswin"] == "R156-AUR-EU-0002"  # back to what 10.0.0 gave it
    reverted = EvidenceRecord.objects.get(vin=eu.vin, kind="reverted")
    assert reverted.release.version == "10.1.0"
    assert (reverted.rxswin_before, reverted.rxswin_after) == (
        "R156-AUR-EU-0003",
        "R156-AUR-EU-0002",
    )


def test_an_export_lost_with_its_task_is_built_again_by_the_sweep(
    homologation_api, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.conf import Conf

    from audit.models import AuditEvent
    from compliance.models import EvidenceExport
    from compliance.services.exports import evidence_exports_resume

    monkeypatch.setattr(Conf, "SYNC", False)  # queued, and then lost with its task
    with django_capture_on_commit_callbacks(execute=True):
        _request_eu_export(homologation_api)
    export = EvidenceExport.objects.get()
    assert export.status == "building"
    assert evidence_exports_resume() == []  # it may still be running

    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        resumed = evidence_exports_resume(now=timezone.now() + timedelta(days=1))

    assert resumed == [export.pk]
    assert EvidenceExport.objects.get().status == "ready"
    assert AuditEvent.objects.filter(action="evidence.export_ready").count() == 1


def test_a_run_that_fails_after_another_run_built_the_export_does_not_undo_it(
    homologation_api, monkeypatch, django_capture_on_commit_callbacks
):
    from audit.models import AuditEvent
    from compliance.models import EvidenceExport
    from compliance.services import exports

    with django_capture_on_commit_callbacks(execute=False):  # queued, not built yet
        _request_eu_export(homologation_api)
    export = EvidenceExport.objects.get()

    def another_run_ends_it_first_then_this_one_fails(export, out):
        EvidenceExport.objects.filter(pk=export.pk).update(status="ready")
        raise OSError("disk full")

    monkeypatch.setattr(exports, "_write", another_run_ends_it_first_then_this_one_fails)
    exports.evidence_export_build(export_id=export.pk)

    assert EvidenceExport.objects.get().status == "ready"
    assert not AuditEvent.objects.filter(action="evidence.export_failed").exists()


def _request_eu_export(homologation_api):
    answer = homologation_api.post(
        "/api/v1/manage/evidence/exports",
        {
            "scope": "market",
            "market": "EU",
            "from": "2026-01-01T00:00:00Z",
            "to": "2027-01-01T00:00:00Z",
        },
        format="json",
    )
    assert answer.status_code == 202, answer.json()
