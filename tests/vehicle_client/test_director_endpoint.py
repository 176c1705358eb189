"""The Director metadata GET is a plain Django view (the busiest request there is), and still
refuses exactly as every DRF vehicle endpoint does."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import vehicle_api

pytestmark = pytest.mark.django_db


def url(vin: str, name: str = "timestamp.json") -> str:
    return f"/api/v1/tuf/director/{vin}/metadata/{name}"


def test_a_timestamp_read_is_one_statement(car):
    vehicle = car()
    api = vehicle_api(vehicle.token)
    assert api.get(url(vehicle.vin)).status_code == 200  # signs, notes last seen
    with CaptureQueriesContext(connection) as queries:
        answer = api.get(url(vehicle.vin))
    assert answer.status_code == 200
    # The token with the few vehicle columns the answer needs: no lazy field load after it.
    assert len(queries.captured_queries) == 1, queries.captured_queries


def test_without_a_token_it_asks_for_one_like_the_other_vehicle_endpoints(car, anonymous_api):
    vehicle = car()
    plain = anonymous_api.get(url(vehicle.vin))
    drf = anonymous_api.get(f"/api/v1/vehicles/{vehicle.vin}")
    assert plain.status_code == drf.status_code == 401
    assert plain.json() == drf.json()
    assert plain["WWW-Authenticate"] == drf["WWW-Authenticate"] == 'Bearer realm="vehicles"'


@pytest.mark.parametrize(
    "header", ["Bearer vt_unknown", "Bearer", "Bearer a b", "Bearer vt_\u00e9"], ids=repr
)
def test_a_bad_token_is_refused_like_the_other_vehicle_endpoints(car, anonymous_api, header):
    vehicle = car()
    anonymous_api.credentials(HTTP_AUTHORIZATION=header)
    plain = anonymous_api.get(url(vehicle.vin))
    drf = anonymous_api.get(f"/api/v1/vehicles/{vehicle.vin}")
    assert plain.status_code == drf.status_code == 401
    assert plain.json() == drf.json()
    assert plain["WWW-Authenticate"] == 'Bearer realm="vehicles"'


def test_a_revoked_token_is_refused(car, engineer_api):
    vehicle = car()
    api = vehicle_api(vehicle.token)
    assert api.get(url(vehicle.vin)).status_code == 200
    revoked = engineer_api.post(f"/api/v1/manage/vehicles/{vehicle.vin}/token/revoke")
    assert revoked.status_code in (200, 204)
    assert api.get(url(vehicle.vin)).json()["error"]["code"] == "invalid_token"


def test_a_vehicle_fetching_too_often_gets_429_with_retry_after(car, settings):
    vehicle, other = car(), car()
    cache.clear()
    settings.OTA_VEHICLE_RATE = "2/min"
    api = vehicle_api(vehicle.token)
    answers = [api.get(url(vehicle.vin)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "throttled"
    assert 0 < int(answers[-1]["Retry-After"]) <= 60
    assert vehicle_api(other.token).get(url(other.vin)).status_code == 200


def test_the_rate_is_one_count_across_the_plain_and_the_drf_endpoints(car, settings):
    vehicle = car()
    cache.clear()
    settings.OTA_VEHICLE_RATE = "2/min"
    api = vehicle_api(vehicle.token)
    assert api.get(url(vehicle.vin)).status_code == 200
    assert api.get(f"/api/v1/vehicles/{vehicle.vin}").status_code == 200
    assert api.get(url(vehicle.vin)).status_code == 429


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tuf/director/{vin}/metadata/timestamp.json",
        "/api/v1/tuf/image/metadata/timestamp.json",
        "/api/v1/tuf/image/targets/any.bin",
    ],
)
def test_only_get_and_head_are_offered_in_the_error_format(car, path):
    vehicle = car()
    # As a server sees it: CSRF checked (a test client skips it unless told).
    api = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {vehicle.token}")
    assert api.head(url(vehicle.vin)).status_code == 200
    refused = api.put(path.format(vin=vehicle.vin), b"{}", content_type="application/json")
    assert refused.status_code == 405
    assert refused.json()["error"]["code"] == "method_not_allowed"
    assert refused["Allow"] == "GET, HEAD"
