from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from rollouts.models import Vehicle
from tests.conftest import vehicle_api

pytestmark = pytest.mark.django_db


def self_url(vin: str) -> str:
    return f"/api/v1/vehicles/{vin}"


def test_a_vehicle_reads_its_own_record_with_its_token(provision):
    body, token = provision()
    response = vehicle_api(token).get(self_url(body["vin"]))
    assert response.status_code == 200
    assert response.json()["vin"] == body["vin"]
    assert response.json()["channel"] == "stable"


def test_vehicle_a_token_is_refused_on_vehicle_b_path(provision):
    _, token_a = provision()
    vehicle_b, _ = provision()
    response = vehicle_api(token_a).get(self_url(vehicle_b["vin"]))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "vin_mismatch"


def test_no_token_is_401_with_a_bearer_challenge(provision):
    body, _ = provision()
    response = APIClient().get(self_url(body["vin"]))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer vt_0000000000000000_" + "A" * 43,
        "Bearer not-a-token",
        "Bearer",
        "Bearer a b",
        "Bearer \u00e9t\u00e9",
    ],
)
def test_an_unknown_or_malformed_token_is_401(provision, header):
    body, _ = provision()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.encode("utf-8").decode("latin-1"))
    response = client.get(self_url(body["vin"]))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_a_token_with_the_right_id_but_a_wrong_secret_is_401(provision):
    body, token = provision()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = vehicle_api(forged).get(self_url(body["vin"]))
    assert response.status_code == 401


def test_a_revoked_token_is_refused(provision, engineer_api):
    body, token = provision()
    revoke = engineer_api.post(
        f"/api/v1/manage/vehicles/{body['vin']}/token/revoke", {"reason": "stolen"}, format="json"
    )
    assert revoke.json() == {"revoked": True}

    response = vehicle_api(token).get(self_url(body["vin"]))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_rotating_a_token_retires_the_old_one(provision, engineer_api):
    body, old = provision()
    new = engineer_api.post(f"/api/v1/manage/vehicles/{body['vin']}/token/rotate").json()["token"]

    assert vehicle_api(old).get(self_url(body["vin"])).status_code == 401
    assert vehicle_api(new).get(self_url(body["vin"])).status_code == 200


def test_a_user_token_does_not_open_vehicle_endpoints(provision, engineer_api):
    body, _ = provision()
    assert engineer_api.get(self_url(body["vin"])).status_code == 401


def test_a_vehicle_token_does_not_open_the_management_api(provision):
    body, token = provision()
    response = vehicle_api(token).get(f"/api/v1/manage/vehicles/{body['vin']}")
    assert response.status_code in (401, 403)


def test_the_last_seen_time_is_written_at_most_once_per_period(
    provision, django_assert_max_num_queries
):
    body, token = provision()
    client = vehicle_api(token)
    client.get(self_url(body["vin"]))
    seen = Vehicle.objects.get(vin=body["vin"]).last_seen_at
    assert seen is not None

    with django_assert_max_num_queries(2) as queries:  # token with vehicle, its ECUs; no write
        client.get(self_url(body["vin"]))
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert Vehicle.objects.get(vin=body["vin"]).last_seen_at == seen

    Vehicle.objects.filter(vin=body["vin"]).update(last_seen_at=timezone.now() - timedelta(hours=1))
    client.get(self_url(body["vin"]))
    assert Vehicle.objects.get(vin=body["vin"]).last_seen_at > seen
