"""Uptane full verification in the reference client, and what the server never offers."""

import dataclasses

import pytest

from rollouts.models import InstallEvent
from signing.director import DirectorEntry
from tests.vehicle_client.conftest import sign_director
from vehicle_client.client import VerificationError

pytestmark = pytest.mark.django_db


def honest_entry(vehicle, bundle) -> DirectorEntry:
    serial = next(s for s, e in vehicle.ecus.items() if e.hardware_id == bundle.hardware_id)
    return DirectorEntry(
        path=bundle.path,
        length=bundle.length,
        sha256=bundle.sha256,
        sha512=bundle.sha512,
        ecu_serials=(serial,),
        hardware_id=bundle.hardware_id,
        release_counter=bundle.release_counter,
        correlation_id="c0ffee",
    )


@pytest.mark.parametrize(
    "lie",
    [{"sha256": "0" * 64}, {"length": 1}, {"hardware_id": "bms-v2"}, {"release_counter": 1}],
    ids=["hash", "length", "hardware id", "release counter"],
)
def test_a_director_entry_that_disagrees_with_the_image_repository_is_refused(car, publish, lie):
    vehicle = car()
    bundle, _ = publish(hardware_id="hu-gen7")
    vehicle.put_manifest()
    # A compromised Director (its key stolen) signs an entry the Image repository contradicts.
    entry = dataclasses.replace(honest_entry(vehicle, bundle), **lie)
    sign_director(vehicle.vin, [entry])

    with pytest.raises(VerificationError):
        vehicle.poll_cycle()
    assert all(e.installed.release_counter == 0 for e in vehicle.ecus.values())
    assert InstallEvent.objects.filter(type="verification_failed").exists()


def test_a_director_entry_for_an_image_the_image_repository_lacks_is_refused(car, publish):
    vehicle = car()
    bundle, _ = publish(hardware_id="hu-gen7")
    entry = dataclasses.replace(honest_entry(vehicle, bundle), path="hu-gen7/not-published.bin")
    vehicle.put_manifest()
    sign_director(vehicle.vin, [entry])
    with pytest.raises(VerificationError, match="not in the Image repository"):
        vehicle.poll_cycle()


def test_a_downgrade_is_never_offered(car, publish, ship):
    vehicle = car()
    older, _ = publish(hardware_id="hu-gen7")
    newer, _ = publish(hardware_id="hu-gen7")
    ship([newer])
    vehicle.poll_cycle()
    vehicle.poll_cycle()
    head_unit = next(e for e in vehicle.ecus.values() if e.hardware_id == "hu-gen7")
    assert head_unit.installed.release_counter == newer.release_counter

    ship([older], "forever-beta")  # a later rollout of an older image
    ship([older], "stable", version="older-again")
    assert vehicle.poll_cycle().offered == []


def test_a_release_with_bundles_for_two_ecus_arrives_together(car, publish, ship):
    vehicle = car()
    head_unit, _ = publish(hardware_id="hu-gen7")
    telematics, _ = publish(hardware_id="tcu-gen3")
    ship([head_unit, telematics])
    result = vehicle.poll_cycle()
    assert sorted(t.path for t in result.offered) == sorted([head_unit.path, telematics.path])
    assert len({t.correlation_id for t in result.offered}) == 1


def test_a_release_for_another_model_or_region_is_not_offered(car, publish, ship):
    vehicle = car(model="Aurora", region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], models=["Ember"])
    other, _ = publish(hardware_id="hu-gen7")
    ship([other], regions=["CN"])
    assert vehicle.poll_cycle().offered == []


def test_an_interrupted_download_resumes_where_it_stopped(car, publish, ship):
    vehicle = car()
    bundle, data = publish(hardware_id="hu-gen7")
    ship([bundle])
    vehicle.put_manifest()
    [target] = vehicle.refresh_and_verify()
    partial = vehicle.workdir / "downloads" / f"{bundle.sha256}.part"
    partial.write_bytes(data[:150_000])  # what arrived before the link dropped

    requests = []
    original = vehicle.transport.request

    def spy(method, url, *, headers, body=None):
        requests.append(headers.get("Range"))
        return original(method, url, headers=headers, body=body)

    vehicle.transport.request = spy
    assert vehicle.download(target).read_bytes() == data
    assert requests == ["bytes=150000-"]


def test_a_corrupted_partial_download_is_refused_and_discarded(car, publish, ship):
    vehicle = car()
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    vehicle.put_manifest()
    [target] = vehicle.refresh_and_verify()
    partial = vehicle.workdir / "downloads" / f"{bundle.sha256}.part"
    partial.write_bytes(b"\x00" * 150_000)
    with pytest.raises(VerificationError):
        vehicle.download(target)
    assert not partial.exists()
