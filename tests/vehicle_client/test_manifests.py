"""PUT /vehicles/{vin}/manifest: signatures, counters, what is recorded."""

import copy
import json

import pytest
from django.core.cache import cache

from rollouts.models import InstalledChange, ManifestProblem, Vehicle
from vehicle_client.ecu import SimEcu

pytestmark = pytest.mark.django_db


def snapshot(vin):
    vehicle = Vehicle.objects.get(vin=vin)
    return (
        vehicle.report_counter,
        vehicle.director_targets_version,
        InstalledChange.objects.count(),
        ManifestProblem.objects.count(),
        Vehicle.objects.filter(vin=vin).values_list("last_manifest", flat=True).get(),
    )


def test_a_manifest_is_answered_with_poll_after_and_the_director_version(car, settings):
    settings.OTA_POLL_IDLE_SECONDS = 1000
    vehicle = car()
    answer = vehicle.put_manifest()
    assert answer.status == 200
    body = answer.json()
    assert 800 <= body["poll_after"] <= 1200
    assert body["director_targets_version"] == 1
    assert body["dropped_reports"] == []


def test_a_replayed_manifest_counter_is_refused_and_changes_nothing(car):
    vehicle = car()
    manifest = vehicle.manifest()
    assert vehicle.put_manifest(manifest).status == 200
    before = snapshot(vehicle.vin)
    answer = vehicle.put_manifest(manifest)
    assert answer.status == 409
    assert answer.json()["error"]["code"] == "counter_replayed"
    assert snapshot(vehicle.vin) == before


def test_a_bad_primary_signature_rejects_the_manifest(car):
    vehicle = car()
    manifest = vehicle.manifest()
    manifest["signed"]["state"]["parked"] = False  # changed after signing
    before = snapshot(vehicle.vin)
    answer = vehicle.put_manifest(manifest)
    assert answer.status == 422
    assert answer.json()["error"]["code"] == "signature_invalid"
    assert snapshot(vehicle.vin) == before


def test_a_bad_secondary_report_is_dropped_and_recorded(car):
    vehicle = car()
    manifest = vehicle.manifest()
    secondary = next(s for s in manifest["signed"]["ecu_version_reports"] if s.startswith("HU"))
    report = manifest["signed"]["ecu_version_reports"][secondary]
    report["signatures"] = [SimEcu("X", "hu-gen7").sign(report["signed"])]  # someone else's key
    manifest["signatures"] = [vehicle.primary.sign(manifest["signed"])]

    answer = vehicle.put_manifest(manifest)

    assert answer.status == 200
    assert answer.json()["dropped_reports"] == [secondary]
    problem = ManifestProblem.objects.get()
    assert (problem.ecu_serial, problem.code) == (secondary, "ecu_signature_invalid")
    ecu = Vehicle.objects.get(vin=vehicle.vin).ecus.get(serial=secondary)
    assert ecu.installed_path == ""  # nothing recorded from the dropped report


def test_an_unknown_ecu_is_refused(car):
    vehicle = car()
    stranger = SimEcu("GHOST-1", "hu-gen7")
    vehicle.ecus[stranger.serial] = stranger
    answer = vehicle.put_manifest()
    assert answer.status == 422
    assert answer.json()["error"]["code"] == "unknown_ecu"


def test_a_manifest_for_another_vin_is_refused(car):
    vehicle, other = car(), car()
    manifest = vehicle.manifest()
    manifest["signed"]["vin"] = other.vin
    manifest["signatures"] = [vehicle.primary.sign(manifest["signed"])]
    assert vehicle.put_manifest(manifest).json()["error"]["code"] == "manifest_vin_mismatch"


@pytest.mark.parametrize(
    "breakage",
    [
        lambda m: m.pop("signatures"),
        lambda m: m["signed"].update(report_counter="7"),
        lambda m: m["signed"].update(report_counter=-1),
        lambda m: m["signed"].update(ecu_version_reports=[]),
        lambda m: m["signed"]["state"].update(battery_soc_pct=78.5),
        lambda m: m.update(extra=True),
        lambda m: next(iter(m["signed"]["ecu_version_reports"].values()))["signed"].update(
            installed_image={"filepath": "x"}
        ),
    ],
    ids=[
        "no signatures",
        "counter as string",
        "negative counter",
        "reports not a map",
        "a float",
        "unknown field",
        "image without fileinfo",
    ],
)
def test_malformed_manifests_are_400_and_change_nothing(car, breakage):
    vehicle = car()
    manifest = copy.deepcopy(vehicle.manifest())
    breakage(manifest)
    before = snapshot(vehicle.vin)
    answer = vehicle.put_manifest(manifest)
    assert answer.status == 400, answer.body
    assert answer.json()["error"]["code"] in {"invalid_request", "not_canonical"}
    assert snapshot(vehicle.vin) == before


def test_an_oversized_manifest_is_413(car, settings):
    vehicle = car()
    manifest = vehicle.manifest()
    manifest["signed"]["state"]["padding"] = "x" * (settings.OTA_MAX_MANIFEST_BYTES + 1)
    assert vehicle.put_manifest(manifest).status == 413


def test_an_unknown_image_is_recorded_as_such_with_counter_zero(car, engineer_api):
    vehicle = car()
    vehicle.put_manifest()
    detail = engineer_api.get(f"/api/v1/manage/vehicles/{vehicle.vin}").json()
    image = detail["ecus"][0]["installed_image"]
    assert image["known"] is False
    assert image["release_counter"] == 0
    assert image["filepath"].endswith("factory.bin")


def test_history_keeps_changes_not_polls(car):
    vehicle = car()
    for _ in range(3):
        vehicle.put_manifest()
    assert InstalledChange.objects.filter(vehicle__vin=vehicle.vin).count() == 2  # one per ECU
    latest = Vehicle.objects.values_list("last_manifest", flat=True).get(vin=vehicle.vin)
    assert json.loads(latest)["signed"]["report_counter"] == 3


def test_the_poll_costs_a_fixed_number_of_queries(car, django_assert_max_num_queries):
    vehicle = car()
    vehicle.put_manifest()
    with django_assert_max_num_queries(15):
        assert vehicle.put_manifest().status == 200


def test_a_poll_with_an_offer_from_a_cohort_rollout_stays_within_the_budget(
    car, publish, ship, engineer_api, django_assert_max_num_queries
):
    vehicle = car()
    engineer_api.post("/api/v1/manage/cohorts", {"name": "staff", "kind": "static"}, format="json")
    engineer_api.post(
        "/api/v1/manage/cohorts/staff/members", {"vins": [vehicle.vin]}, format="json"
    )
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], cohort="staff")
    vehicle.put_manifest()  # offered: an open assignment from now on
    with django_assert_max_num_queries(18):  # 17 on SQLite; PostgreSQL adds the decision lock
        assert vehicle.put_manifest().status == 200


def test_a_first_offer_stays_within_the_budget(car, publish, ship, django_assert_max_num_queries):
    vehicle = car()
    vehicle.put_manifest()
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    # 13 on SQLite, two of them the test's savepoint: the token, the vehicle locked with its
    # ECUs, the rollouts that can concern it with their bundles and its assignments in them,
    # the assignment and its evidence, the deltas, the Director versions and keys, the three
    # Director files in one insert, the vehicle row and the stage's counter. PostgreSQL adds
    # the decision lock.
    with django_assert_max_num_queries(14):
        assert vehicle.put_manifest().status == 200
    assert [t.path for t in vehicle.refresh_and_verify()] == [bundle.path]


def test_a_vehicle_polling_too_often_gets_429_with_retry_after(car, settings):
    looping, other = car(), car()
    cache.clear()  # forget the requests of provisioning and bootstrap
    settings.OTA_VEHICLE_RATE = "3/min"
    answers = [looping.put_manifest() for _ in range(4)]

    assert [a.status for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "throttled"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert other.put_manifest().status == 200  # another vehicle is not held back


def test_poll_after_grows_when_the_fleet_polls_above_capacity(car, settings, monkeypatch):
    from types import SimpleNamespace

    from rollouts.services import manifests

    # All in one minute, wherever the clock is: a minute boundary would split the count.
    monkeypatch.setattr(manifests, "time", SimpleNamespace(time=lambda: 1_800_000_030.0))
    settings.OTA_POLL_CAPACITY_PER_MINUTE = 4
    settings.OTA_POLL_IDLE_SECONDS = 100
    vehicle = car()
    quiet = vehicle.put_manifest().json()["poll_after"]
    for _ in range(10):
        busy = vehicle.put_manifest().json()["poll_after"]

    assert 80 <= quiet <= 120
    assert busy >= 100 * (11 / 4) * 0.8  # eleven polls this minute against a capacity of four
