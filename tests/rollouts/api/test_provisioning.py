import pytest

from audit.models import AuditEvent
from rollouts.models import Vehicle, VehicleToken
from tests.conftest import vehicle_api
from tests.factories import ecu_payload, make_vin, p256_public_key, vehicle_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/manage/vehicles"
BULK_URL = "/api/v1/manage/vehicles/bulk"


def test_provisioning_one_vehicle_answers_201_with_its_token_once(engineer_api):
    payload = vehicle_payload(region="US", channel="beta")
    response = engineer_api.post(URL, payload, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["vin"] == payload["vin"]
    assert body["channel"] == "beta"
    assert body["token"].startswith("vt_")
    assert [e["serial"] for e in body["ecus"]] == [e["serial"] for e in payload["ecus"]]
    assert all(len(e["keyid"]) == 64 for e in body["ecus"])

    detail = engineer_api.get(f"{URL}/{payload['vin']}").json()
    assert "token" not in detail
    assert detail["channel"] == "beta"


def test_a_vehicle_without_a_channel_follows_stable(engineer_api):
    response = engineer_api.post(URL, vehicle_payload(), format="json")
    assert response.json()["channel"] == "stable"


def test_the_token_is_stored_only_as_a_hash(provision):
    body, token = provision()
    row = VehicleToken.objects.get(vehicle__vin=body["vin"])
    secret = token.split("_", 2)[2]
    assert secret not in row.secret_hash
    assert token not in str(VehicleToken.objects.values().get(pk=row.pk))


def test_provisioning_writes_an_audit_row_naming_the_engineer(provision, engineer):
    body, _ = provision()
    event = AuditEvent.objects.get(
        action="vehicle.provisioned", target_id=str(Vehicle.objects.get(vin=body["vin"]).pk)
    )
    assert event.actor == engineer


def test_an_ecdsa_p256_ecu_key_is_accepted(engineer_api):
    ecu = ecu_payload(primary=True) | {"public_key": p256_public_key()}
    response = engineer_api.post(URL, vehicle_payload(ecus=[ecu]), format="json")
    assert response.status_code == 201
    assert response.json()["ecus"][0]["public_key"]["scheme"] == "ecdsa-sha2-nistp256"


def test_a_lowercase_vin_is_stored_uppercase(engineer_api):
    vin = make_vin()
    response = engineer_api.post(URL, vehicle_payload(vin=vin.lower()), format="json")
    assert response.status_code == 201
    assert response.json()["vin"] == vin


def test_a_vin_is_checked_as_given_before_it_is_upper_cased(engineer_api):
    vin = make_vin()
    # The long s upper-cases to S: as given, it is no letter of a VIN.
    response = engineer_api.post(URL, vehicle_payload(vin="\u017f" + vin[1:]), format="json")
    assert response.status_code == 400
    assert "vin" in response.json()["error"]["detail"]
    taken = engineer_api.post(URL, vehicle_payload(vin=f" {vin.lower()} "), format="json")
    assert taken.status_code == 201 and taken.json()["vin"] == vin


def test_bulk_provisioning_returns_each_token_once(engineer_api):
    payloads = [vehicle_payload() for _ in range(25)]
    response = engineer_api.post(BULK_URL, {"vehicles": payloads}, format="json")

    assert response.status_code == 201
    vehicles = response.json()["vehicles"]
    assert [v["vin"] for v in vehicles] == [p["vin"] for p in payloads]
    assert len({v["token"] for v in vehicles}) == 25
    for vehicle in vehicles[:3]:
        assert (
            vehicle_api(vehicle["token"]).get(f"/api/v1/vehicles/{vehicle['vin']}").status_code
            == 200
        )


def test_bulk_provisioning_of_a_thousand_vehicles_fits_in_a_few_queries(
    engineer_api, django_assert_max_num_queries
):
    payloads = [vehicle_payload(ecus=[ecu_payload(primary=True)]) for _ in range(1000)]
    # Batched inserts: SQLite's parameter limit splits them into a few dozen statements,
    # far from the thousands that one query per vehicle or ECU would take.
    with django_assert_max_num_queries(80):
        response = engineer_api.post(BULK_URL, {"vehicles": payloads}, format="json")
    assert response.status_code == 201
    assert Vehicle.objects.count() == 1000


def test_bulk_provisioning_is_all_or_nothing(engineer_api, provision, fleet_unchanged):
    existing, _ = provision()
    payloads = [vehicle_payload() for _ in range(5)] + [vehicle_payload(vin=existing["vin"])]
    with fleet_unchanged():
        response = engineer_api.post(BULK_URL, {"vehicles": payloads}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "vehicle_exists"
    assert response.json()["error"]["detail"]["vins"] == [existing["vin"]]


def test_bulk_provisioning_refuses_more_than_a_thousand(engineer_api, fleet_unchanged):
    payloads = [vehicle_payload(ecus=[ecu_payload(primary=True)]) for _ in range(1001)]
    with fleet_unchanged():
        response = engineer_api.post(BULK_URL, {"vehicles": payloads}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_bulk_provisioning_refuses_a_vin_twice_in_one_batch(engineer_api, fleet_unchanged):
    payload = vehicle_payload()
    with fleet_unchanged():
        response = engineer_api.post(BULK_URL, {"vehicles": [payload, payload]}, format="json")
    assert response.status_code == 400
    assert payload["vin"] in str(response.json()["error"]["detail"])


def test_provisioning_an_existing_vin_is_a_conflict(engineer_api, provision, fleet_unchanged):
    body, _ = provision()
    with fleet_unchanged():
        response = engineer_api.post(URL, vehicle_payload(vin=body["vin"]), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "vehicle_exists"


def test_an_unknown_channel_is_unprocessable(engineer_api, fleet_unchanged):
    with fleet_unchanged():
        response = engineer_api.post(URL, vehicle_payload(channel="nightly"), format="json")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_channel"
    assert error["detail"]["channels"] == ["nightly"]


BAD_PAYLOADS = {
    "short vin": {"vin": "1HGCM82633A00435"},
    "vin with I": {"vin": "1HGCM82633A00435I"},
    "vin as number": {"vin": 12345678901234567},
    "unknown region": {"region": "MARS"},
    "missing model": {"model": None},
    "no ecus": {"ecus": []},
    "ecus not a list": {"ecus": "hu-gen7"},
    "two primaries": {"ecus": [ecu_payload(primary=True), ecu_payload(primary=True)]},
    "no primary": {"ecus": [ecu_payload(), ecu_payload()]},
    "repeated serial": {"ecus": [ecu_payload(primary=True, serial="A1"), ecu_payload(serial="A1")]},
    "primary as string": {"ecus": [ecu_payload() | {"primary": "yes"}]},
    "bad key hex": {
        "ecus": [
            ecu_payload(primary=True)
            | {
                "public_key": {
                    "keytype": "ed25519",
                    "scheme": "ed25519",
                    "keyval": {"public": "zz"},
                }
            }
        ]
    },
    "rsa key": {
        "ecus": [
            ecu_payload(primary=True)
            | {
                "public_key": {
                    "keytype": "rsa",
                    "scheme": "rsassa-pss-sha256",
                    "keyval": {"public": "x"},
                }
            }
        ]
    },
    "key not an object": {"ecus": [ecu_payload(primary=True) | {"public_key": "abc"}]},
    "bad hardware id": {"ecus": [ecu_payload(primary=True, hardware_id="hu gen7!")]},
    "misspelt field": {"chanel": "beta"},
    "unknown ecu field": {"ecus": [ecu_payload(primary=True) | {"firmware": "1.0"}]},
}


@pytest.mark.parametrize("change", BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
def test_bad_input_is_refused_with_400_and_changes_nothing(engineer_api, fleet_unchanged, change):
    payload = vehicle_payload()
    payload.update(change)
    payload = {k: v for k, v in payload.items() if v is not None}
    with fleet_unchanged():
        response = engineer_api.post(URL, payload, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["detail"]


def test_the_vehicle_list_pages_by_cursor_and_filters_by_region(engineer_api):
    payloads = [vehicle_payload(region="CN") for _ in range(3)] + [vehicle_payload(region="US")]
    engineer_api.post(BULK_URL, {"vehicles": payloads}, format="json")

    first = engineer_api.get(URL, {"region": "CN", "page_size": 2}).json()
    second = engineer_api.get(first["next"]).json()

    vins = [v["vin"] for v in first["results"] + second["results"]]
    assert sorted(vins) == sorted(p["vin"] for p in payloads[:3])
    assert second["next"] is None


def test_an_unknown_vin_is_a_json_404(engineer_api):
    response = engineer_api.get(f"{URL}/{make_vin()}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "vehicle_not_found"
