"""The markets' pages in the admin: a homologation engineer assesses and approves a release
for a market from its page, keeps the RXSWIN register, and exports signed evidence."""

import pytest

from compliance.models import EvidenceExport, MarketApproval, RxswinEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved_release(
    type_approval, publish, car, engineer_api, approver_api, django_capture_on_commit_callbacks
):
    car(region="CN", model="Aurora")
    bundle, _ = publish(hardware_id="hu-gen7")
    release = engineer_api.post(
        "/api/v1/manage/releases",
        {"version": "11.0.0", "bundles": [bundle.pk], "regions": ["EU", "CN"]},
        format="json",
    ).json()
    with django_capture_on_commit_callbacks(execute=True):  # copies into own-storage markets
        approver_api.post(f"/api/v1/manage/releases/{release['id']}/approve")
    return release


def test_a_homologation_engineer_approves_a_market_from_the_releases_page(approved_release, staff):
    client = staff("hana", "homologation")
    page = client.get(f"/admin/rollouts/release/{approved_release['id']}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "CN: awaiting" in text and "assess and approve" in text
    form_url = f"/admin/compliance/marketapproval/approve/{approved_release['id']}/CN/"
    assert client.get(form_url).status_code == 200

    refused = client.post(form_url, {"affects__Aurora": "on", "rationale__Aurora": "ADAS"})
    assert refused.status_code == 200 and "needs the new RXSWIN" in refused.content.decode()

    done = client.post(
        form_url,
        {
            "affects__Aurora": "on",
            "rationale__Aurora": "Lane keeping calibration.",
            "new_rxswin__Aurora": "R156-AUR-CN-0003",
        },
    )

    assert done.status_code == 302
    approval = MarketApproval.objects.get(market="CN")
    assert approval.approved_by.username == "hana"
    assert RxswinEntry.objects.get(market="CN", model="Aurora").rxswin == "R156-AUR-CN-0003"
    listed = client.get("/admin/compliance/marketapproval/").content.decode()
    assert "11.0.0" in listed and "Aurora" in listed


def test_a_release_engineer_may_not_open_the_market_approval_form(approved_release, staff):
    client = staff("rita", "release engineer")
    form_url = f"/admin/compliance/marketapproval/approve/{approved_release['id']}/CN/"
    assert client.get(form_url).status_code == 403


def test_the_register_takes_a_new_rxswin_through_its_form(staff, db):
    client = staff("hana", "homologation")

    answer = client.post(
        "/admin/compliance/rxswinentry/add/",
        {"model": "Aurora", "market": "EU", "rxswin": "R156-AUR-EU-0001"},
    )

    assert answer.status_code == 302
    assert client.get("/admin/compliance/rxswinentry/").content.decode().count("R156-AUR-EU-0001")


def test_an_evidence_export_is_asked_for_in_the_admin_and_offers_its_three_files(
    staff, db, django_capture_on_commit_callbacks
):
    client = staff("hana", "homologation")

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            "/admin/compliance/evidenceexport/add/",
            {
                "scope": "market",
                "market": "EU",
                "period_from": "2026-01-01 00:00",
                "period_to": "2027-01-01 00:00",
                "format": "csv",
            },
        )

    assert answer.status_code == 302
    export = EvidenceExport.objects.get()
    assert export.status == "ready"
    page = client.get(f"/admin/compliance/evidenceexport/{export.pk}/change/").content.decode()
    assert "signature" in page and "openssl" in page and "sha256sum -c" in page


def test_the_markets_page_shows_storage_type_approval_and_each_releases_copies(
    azure_markets, approved_release, staff
):
    client = staff("hana", "homologation")

    page = client.get("/admin/markets/")

    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="market-CN"' in text and "azure" in text and "s3" in text
    assert "11.0.0" in text and "1 of 1 verified" in text  # CN's own container holds it
    assert "assess and approve" in text  # CN awaits its approval
    assert "AccountKey" not in text  # never a secret of the storage


def test_the_markets_api_lists_each_market_with_its_releases(
    azure_markets, approved_release, engineer_api
):
    markets = {m["market"]: m for m in engineer_api.get("/api/v1/manage/markets").json()}

    cn = markets["CN"]
    assert cn["storage"]["kind"] == "azure" and cn["storage"]["own"] is True
    assert cn["type_approval_required"] is True and cn["vehicles"] == 1
    assert [(r["release"], r["type_approval"]) for r in cn["releases"]] == [("11.0.0", "awaiting")]
    assert cn["releases"][0]["copies"]["verified"] == 1
    assert markets["US"]["type_approval_required"] is False


def test_a_rollouts_page_names_the_markets_still_awaiting_type_approval(
    approved_release, engineer_api, staff
):
    rollout = engineer_api.post(
        "/api/v1/manage/rollouts",
        {"release": approved_release["id"], "channel": "stable"},
        format="json",
    ).json()

    page = staff("rita", "release engineer").get(f"/admin/rollouts/rollout/{rollout['id']}/change/")

    assert "EU, CN: no car there is offered it until approved" in page.content.decode()
