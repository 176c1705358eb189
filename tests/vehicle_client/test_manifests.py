"""PUT /vehicles/{vin}/manifest: signatures, counters, what is recorded."""

import copy

import pytest

from rollouts.models import InstalledChange, ManifestProblem, Vehicle, VehicleManifest
from vehicle_client.ecu import SimEcu

pytestmark = pytest.mark.django_db


def snapshot(vin):
    vehicle = Vehicle.objects.get(vin=vin)
    return (
        vehicle.report_counter,
        vehicle.director_targets_version,
        InstalledChange.objects.count(),
        ManifestProblem.objects.count(),
        list(VehicleManifest.objects.values_list("report_counter", flat=True)),
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
    assert VehicleManifest.objects.get(vehicle__vin=vehicle.vin).report_counter == 3


def test_the_poll_costs_a_fixed_number_of_queries(car, django_assert_max_num_queries):
    vehicle = car()
    vehicle.put_manifest()
    with django_assert_max_num_queries(16):
        assert vehicle.put_manifest().status == 200
