"""An evidence export names something real: a market, a release, or a VIN with a vehicle or
with evidence. An auditor is never handed a signed, empty record of a car that has history;
a VIN is found however its letters were typed, on every management path that looks one up."""

import pytest

from compliance.models import EvidenceExport, EvidenceRecord
from rollouts.models import Release
from tests.conftest import vehicle_api
from tests.factories import make_vin

pytestmark = pytest.mark.django_db

EXPORTS = "/api/v1/manage/evidence/exports"


@pytest.fixture
def offered(car, publish, ship, django_capture_on_commit_callbacks):
    """A car offered and installing a release: evidence records under its VIN."""
    vehicle = car(region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id, _ = ship([bundle])
    assert vehicle.poll_cycle().installed
    assert EvidenceRecord.objects.filter(vin=vehicle.vin).count() >= 2
    return vehicle, release_id


def ask(api, **body):
    return api.post(EXPORTS, {"format": "json", **body}, format="json")


def refused(answer, status: int, code: str) -> bool:
    return answer.status_code == status and answer.json()["error"]["code"] == code


@pytest.mark.parametrize("market", ["XX", "eu", " EU"])
def test_an_export_for_a_market_that_does_not_exist_is_refused_and_nothing_is_queued(
    homologation_api, market
):
    answer = ask(
        homologation_api,
        scope="market",
        market=market,
        **{"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
    )

    assert refused(answer, 422, "unknown_market"), answer.json()
    assert answer.json()["error"]["detail"]["market"] == market
    assert not EvidenceExport.objects.exists()


def test_a_markets_export_over_a_quiet_period_is_still_made(homologation_api):
    answer = ask(
        homologation_api,
        scope="market",
        market="EU",
        **{"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"},
    )

    assert answer.status_code == 202  # a real market with nothing to report: a real answer


def test_an_export_for_a_release_that_does_not_exist_is_refused(homologation_api, offered):
    _, release_id = offered
    missing = Release.objects.order_by("-pk").first().pk + 1

    answer = ask(homologation_api, scope="release", release=missing)

    assert refused(answer, 422, "unknown_release"), answer.json()
    assert answer.json()["error"]["detail"] == {"release": missing}
    assert not EvidenceExport.objects.exists()
    assert ask(homologation_api, scope="release", release=release_id).status_code == 202


def test_an_export_for_a_vin_with_no_vehicle_and_no_evidence_is_refused(homologation_api):
    stranger = make_vin()

    answer = ask(homologation_api, scope="vin", vin=stranger)

    assert refused(answer, 422, "unknown_vin"), answer.json()
    assert answer.json()["error"]["detail"] == {"vin": stranger}
    assert not EvidenceExport.objects.exists()


def test_a_vin_that_cannot_be_one_is_refused_naming_the_field(homologation_api):
    answer = ask(homologation_api, scope="vin", vin="NOT-A-VIN")

    assert answer.status_code == 400
    assert "vin" in answer.json()["error"]["detail"]


def test_a_lower_case_vin_exports_the_cars_records_under_its_vin(
    homologation_api, offered, django_capture_on_commit_callbacks
):
    vehicle, _ = offered
    records = EvidenceRecord.objects.filter(vin=vehicle.vin).count()

    with django_capture_on_commit_callbacks(execute=True):
        answer = ask(homologation_api, scope="vin", vin=f" {vehicle.vin.lower()} ")

    assert answer.status_code == 202, answer.json()
    export = homologation_api.get(answer.json()["links"]["self"]).json()
    assert (export["vin"], export["status"]) == (vehicle.vin, "ready")
    assert export["rows"] == export["expected_rows"] == records


def test_the_evidence_of_a_vehicle_whose_row_is_gone_is_still_exported(
    homologation_api, offered, django_capture_on_commit_callbacks
):
    vehicle, _ = offered
    records = EvidenceRecord.objects.filter(vin=vehicle.vin).count()
    EvidenceRecord.objects.filter(vin=vehicle.vin).update(vin="1HGCM82633A004352")

    with django_capture_on_commit_callbacks(execute=True):
        answer = ask(homologation_api, scope="vin", vin="1hgcm82633a004352")

    assert answer.status_code == 202, answer.json()
    assert homologation_api.get(answer.json()["links"]["self"]).json()["rows"] == records


def test_the_admin_refuses_an_unknown_vin_and_takes_and_finds_a_lower_case_one(staff, offered):
    vehicle, _ = offered
    client = staff("hana", "homologation")
    form = {"scope": "vin", "format": "csv"}

    unknown = client.post("/admin/compliance/evidenceexport/add/", {**form, "vin": make_vin()})
    assert unknown.status_code == 200 and "No vehicle and no evidence" in unknown.content.decode()
    assert not EvidenceExport.objects.exists()

    taken = client.post(
        "/admin/compliance/evidenceexport/add/", {**form, "vin": vehicle.vin.lower()}
    )
    assert taken.status_code == 302
    assert EvidenceExport.objects.get().vin == vehicle.vin
    found = client.get(f"/admin/compliance/evidencerecord/?q={vehicle.vin.lower()}")
    assert (
        found.context["cl"].result_count == EvidenceRecord.objects.filter(vin=vehicle.vin).count()
    )


def test_the_management_lookups_find_a_vehicle_by_a_lower_case_vin(
    offered, engineer_api, homologation_api, publish
):
    vehicle, _ = offered
    lower = vehicle.vin.lower()

    assert engineer_api.get(f"/api/v1/manage/vehicles/{lower}").json()["vin"] == vehicle.vin
    rxswin = homologation_api.get(f"/api/v1/manage/vehicles/{lower}/rxswin")
    assert rxswin.status_code == 200 and rxswin.json()["vin"] == vehicle.vin
    engineer_api.post("/api/v1/manage/cohorts", {"name": "staff", "kind": "static"}, format="json")
    added = engineer_api.post(
        "/api/v1/manage/cohorts/staff/members", {"vins": [lower]}, format="json"
    )
    assert added.status_code == 200 and added.json()["changed"] == 1, added.json()


def test_the_vehicle_api_still_takes_only_its_own_vin_as_the_token_names_it(offered, car):
    vehicle, _ = offered
    other = car(region="EU")
    api = vehicle_api(vehicle.token)

    assert api.get(f"/api/v1/vehicles/{vehicle.vin}").status_code == 200
    assert api.get(f"/api/v1/vehicles/{vehicle.vin.lower()}").status_code == 404
    mismatch = api.get(f"/api/v1/vehicles/{other.vin}")
    assert refused(mismatch, 403, "vin_mismatch")


@pytest.mark.parametrize(("format", "served"), [("json", "application/json"), ("csv", "text/csv")])
def test_an_export_file_is_served_as_the_schema_documents_it(
    homologation_api, offered, client, format, served, django_capture_on_commit_callbacks
):
    vehicle, _ = offered
    schema = client.get("/api/schema/?format=json").json()["paths"]
    with django_capture_on_commit_callbacks(execute=True):
        export = ask(homologation_api, scope="vin", vin=vehicle.vin, format=format).json()
    links = homologation_api.get(export["links"]["self"]).json()["links"]

    for part in ("file", "sha256", "signature"):
        answer = homologation_api.get(links[part])
        documented = schema[f"{EXPORTS}/{{export_id}}/{part}"]["get"]["responses"]["200"]
        media_type = answer["Content-Type"].split(";")[0]
        assert answer.status_code == 200
        assert media_type in documented["content"], (part, media_type, documented)
        # A client that asks for what the schema documents gets it, not 406.
        assert homologation_api.get(links[part], HTTP_ACCEPT=media_type).status_code == 200
    assert homologation_api.get(links["file"])["Content-Type"] == served
    assert set(schema[f"{EXPORTS}/{{export_id}}/file"]["get"]["responses"]["200"]["content"]) == {
        "application/json",
        "text/csv",
    }
