"""A vehicle's Director metadata: conditional requests after its token, never shared caches."""

import json

import pytest

from tests.conftest import vehicle_api

pytestmark = pytest.mark.django_db


def url(vin: str, name: str) -> str:
    return f"/api/v1/tuf/director/{vin}/metadata/{name}"


def test_a_vehicle_revalidating_its_director_timestamp_gets_304(car):
    vehicle = car()
    api = vehicle_api(vehicle.token)
    first = api.get(url(vehicle.vin, "timestamp.json"))
    again = api.get(url(vehicle.vin, "timestamp.json"), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == first["Cache-Control"]


def test_a_matching_etag_without_a_token_is_still_401(car, anonymous_api):
    vehicle = car()
    etag = vehicle_api(vehicle.token).get(url(vehicle.vin, "timestamp.json"))["ETag"]
    answer = anonymous_api.get(url(vehicle.vin, "timestamp.json"), HTTP_IF_NONE_MATCH=etag)
    assert answer.status_code == 401
    assert "ETag" not in answer


def test_a_matching_etag_with_another_vehicles_token_is_403(car):
    vehicle, other = car(), car()
    etag = vehicle_api(vehicle.token).get(url(vehicle.vin, "timestamp.json"))["ETag"]
    answer = vehicle_api(other.token).get(
        url(vehicle.vin, "timestamp.json"), HTTP_IF_NONE_MATCH=etag
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "vin_mismatch"
    assert "ETag" not in answer


def test_a_vehicles_director_files_are_private_and_the_shared_root_public(car):
    vehicle = car()
    api = vehicle_api(vehicle.token)
    timestamp = api.get(url(vehicle.vin, "timestamp.json"))
    assert timestamp["Cache-Control"] == "private, no-cache"
    snapshot_version = json.loads(timestamp.content)["signed"]["meta"]["snapshot.json"]["version"]
    snapshot = api.get(url(vehicle.vin, f"{snapshot_version}.snapshot.json"))
    assert snapshot["Cache-Control"] == "private, max-age=31536000, immutable"
    targets_version = json.loads(snapshot.content)["signed"]["meta"]["targets.json"]["version"]
    targets = api.get(url(vehicle.vin, f"{targets_version}.targets.json"))
    assert targets["Cache-Control"] == "private, max-age=31536000, immutable"
    root = api.get(url(vehicle.vin, "1.root.json"))
    assert root["Cache-Control"] == "public, max-age=31536000, immutable"


def test_targets_signed_at_a_manifest_change_the_timestamps_etag(car, publish, ship):
    vehicle = car()
    api = vehicle_api(vehicle.token)
    before = api.get(url(vehicle.vin, "timestamp.json"))
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    vehicle.put_manifest()  # the Director signs this vehicle's new targets
    after = api.get(url(vehicle.vin, "timestamp.json"), HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]
    snapshot_version = json.loads(after.content)["signed"]["meta"]["snapshot.json"]["version"]
    snapshot = api.get(url(vehicle.vin, f"{snapshot_version}.snapshot.json"))
    targets_version = json.loads(snapshot.content)["signed"]["meta"]["targets.json"]["version"]
    targets = json.loads(api.get(url(vehicle.vin, f"{targets_version}.targets.json")).content)
    assert bundle.path in targets["signed"]["targets"]


def test_a_director_timestamp_is_served_from_the_row_authentication_read(
    car, django_assert_num_queries
):
    vehicle = car()
    vehicle.put_manifest()
    api = vehicle_api(vehicle.token)
    signed = api.get(url(vehicle.vin, "timestamp.json")).content
    with django_assert_num_queries(1):  # the token with its vehicle; no metadata read
        again = api.get(url(vehicle.vin, "timestamp.json"))
    assert again.content == signed


def test_a_new_signature_is_served_at_once(car, publish, ship):
    vehicle = car()
    vehicle.put_manifest()
    api = vehicle_api(vehicle.token)
    before = json.loads(api.get(url(vehicle.vin, "timestamp.json")).content)["signed"]["version"]
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    vehicle.put_manifest()  # offered: signed again
    after = json.loads(api.get(url(vehicle.vin, "timestamp.json")).content)["signed"]["version"]
    assert after == before + 1
    assert [t.path for t in vehicle.refresh_and_verify()] == [bundle.path]
