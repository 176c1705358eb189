"""A vehicle, driven by the reference client over HTTP, through a whole update."""

import hashlib

import pytest

from rollouts.models import Assignment, InstalledChange

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def test_a_vehicle_receives_verifies_installs_and_reports_a_release(
    car_over_http, publish, ship, engineer_api
):
    vehicle = car_over_http()
    bundle, data = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], "stable")

    first = vehicle.poll_cycle()

    assert [t.path for t in first.offered] == [bundle.path]
    assert first.installed == [f"HU-GEN7-{vehicle.vin[-6:]}"]
    assert first.events == {"accepted": 4, "duplicates": 0}
    head_unit_ecu = vehicle.ecus[f"HU-GEN7-{vehicle.vin[-6:]}"]
    assert head_unit_ecu.installed.sha256 == hashlib.sha256(data).hexdigest()
    assignment = Assignment.objects.get(vehicle__vin=vehicle.vin)
    assert str(assignment.pk) == first.offered[0].correlation_id
    # Counted when the car says so, as a failure would be; its next manifest confirms it.
    assert (assignment.status, assignment.awaiting_manifest) == ("succeeded", True)

    second = vehicle.poll_cycle()

    assert second.offered == []  # the Director's targets are empty again
    assert second.manifest["director_targets_version"] > first.manifest["director_targets_version"]
    assignment.refresh_from_db()
    assert (assignment.status, assignment.awaiting_manifest) == ("succeeded", False)
    detail = engineer_api.get(f"/api/v1/manage/vehicles/{vehicle.vin}").json()
    head_unit = next(e for e in detail["ecus"] if e["hardware_id"] == "hu-gen7")
    assert head_unit["installed_image"]["version"] == bundle.version
    assert head_unit["installed_image"]["release_counter"] == bundle.release_counter
    assert InstalledChange.objects.filter(vehicle__vin=vehicle.vin, to_bundle=bundle).count() == 1
    counts = engineer_api.get(f"/api/v1/manage/rollouts/{rollout_id}").json()["stages"][0]["counts"]
    assert counts["succeeded"] == 1


def test_a_vehicle_with_nothing_to_do_gets_empty_targets_that_name_it(car_over_http):
    vehicle = car_over_http()
    result = vehicle.poll_cycle()
    assert result.offered == []
    from tuf.api.metadata import Metadata

    targets = Metadata.from_file(str(vehicle.workdir / "director/metadata/targets.json")).signed
    assert targets.targets == {}
    assert targets.unrecognized_fields["custom"] == {"vin": vehicle.vin}
