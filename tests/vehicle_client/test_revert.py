"""on_halt: revert sends vehicles that installed a bad release back, without a downgrade."""

import pytest

from rollouts.models import Assignment, Rollout
from vehicle_client.simulation import Fleet

pytestmark = pytest.mark.django_db


def halt(api, rollout_id: int) -> None:
    answer = api.post(
        f"/api/v1/manage/rollouts/{rollout_id}/halt", {"reason": "crashes"}, format="json"
    )
    assert answer.status_code == 200, answer.json()


def head_unit(car):
    return next(e for e in car.ecus.values() if e.hardware_id == "hu-gen7")


def test_a_halted_release_is_reverted_with_a_higher_release_counter(
    car, publish, ship, engineer_api
):
    cars = [car() for _ in range(12)]
    good, _ = publish(hardware_id="hu-gen7")
    ship([good], version="good")
    Fleet(cars[:6]).poll()  # half the fleet runs the good release
    bad, _ = publish(hardware_id="hu-gen7")
    _, bad_id = ship([bad], version="bad", policy={"on_halt": "revert"})
    Fleet(cars).poll()  # everyone takes the bad one (the rest skip the good: superseded)
    assert {head_unit(c).installed.release_counter for c in cars} == {bad.release_counter}
    untouched = car()  # joins later, never had the bad release

    halt(engineer_api, bad_id)

    revert = Rollout.objects.get(reverts_id=bad_id)
    assert (revert.status, revert.only_assigned) == ("running", True)
    [item] = revert.release.items.select_related("bundle")
    assert item.bundle.sha256 == good.sha256  # the good image's bytes
    assert item.bundle.release_counter > bad.release_counter  # rollback protection holds
    assert set(Assignment.objects.filter(rollout_id=bad_id).values_list("status", flat=True)) == {
        "reverted"
    }

    cars[0].put_manifest()
    offered = cars[0].refresh_and_verify()  # through python-tuf: Director and Image agree
    assert [t.path for t in offered] == [item.bundle.path]
    Fleet(cars).poll()
    assert {head_unit(c).installed.sha256 for c in cars} == {good.sha256}
    untouched.put_manifest()
    assert not Assignment.objects.filter(vehicle__vin=untouched.vin, rollout=revert).exists()


def test_a_rollout_must_be_halted_before_a_revert(publish, ship, engineer_api):
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle])
    answer = engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/revert")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "revert_not_possible"


def test_an_install_under_way_at_the_halt_is_sent_back_once_it_finishes(
    car, publish, ship, engineer_api
):
    early, late = car(), car()
    good, _ = publish(hardware_id="hu-gen7")
    ship([good], version="good")
    Fleet([early, late]).poll()
    bad, _ = publish(hardware_id="hu-gen7")
    _, bad_id = ship([bad], version="bad", policy={"on_halt": "revert"})
    Fleet([early]).poll()  # installed before the halt
    late.put_manifest()
    [target] = late.refresh_and_verify()
    late.send_events([late.event("download_started", target.correlation_id, target.ecu.serial)])

    halt(engineer_api, bad_id)
    late.install(target)  # the install finishes after the halt
    late.put_manifest()

    revert = Rollout.objects.get(reverts_id=bad_id)
    assert set(
        Assignment.objects.filter(rollout_id=bad_id).values_list("vehicle__vin", "status")
    ) == {(early.vin, "reverted"), (late.vin, "reverted")}
    assert Assignment.objects.filter(rollout=revert, vehicle__vin=late.vin).exists()
    Fleet([early, late]).poll()
    assert {head_unit(c).installed.sha256 for c in (early, late)} == {good.sha256}


def test_when_every_install_was_still_under_way_the_first_to_finish_starts_the_revert(
    car, publish, ship, engineer_api
):
    vehicle = car()
    good, _ = publish(hardware_id="hu-gen7")
    ship([good], version="good")
    Fleet([vehicle]).poll()
    bad, _ = publish(hardware_id="hu-gen7")
    _, bad_id = ship([bad], version="bad", policy={"on_halt": "revert"})
    vehicle.put_manifest()
    [target] = vehicle.refresh_and_verify()
    vehicle.send_events(
        [vehicle.event("download_started", target.correlation_id, target.ecu.serial)]
    )
    halt(engineer_api, bad_id)
    assert not Rollout.objects.filter(reverts_id=bad_id).exists()  # nobody had installed it

    vehicle.install(target)
    vehicle.put_manifest()

    assert Rollout.objects.filter(reverts_id=bad_id).exists()
    Fleet([vehicle]).poll()
    assert head_unit(vehicle).installed.sha256 == good.sha256


def test_a_late_install_of_a_rollout_halted_without_revert_simply_succeeds(
    car, publish, ship, engineer_api
):
    vehicle = car()
    bad, _ = publish(hardware_id="hu-gen7")
    _, bad_id = ship([bad], version="bad", policy={"on_halt": "stop"})
    vehicle.put_manifest()
    [target] = vehicle.refresh_and_verify()
    halt(engineer_api, bad_id)

    vehicle.install(target)
    vehicle.put_manifest()

    assert Assignment.objects.get(rollout_id=bad_id).status == "succeeded"
    assert not Rollout.objects.filter(reverts_id=bad_id).exists()


def test_a_person_reverts_a_halted_rollout_through_the_api_saying_why(
    car, publish, ship, engineer_api
):
    from audit.models import AuditEvent

    vehicle = car()
    good, _ = publish(hardware_id="hu-gen7")
    ship([good], version="good")
    Fleet([vehicle]).poll()
    bad, _ = publish(hardware_id="hu-gen7")
    _, bad_id = ship([bad], version="bad", policy={"on_halt": "stop"})
    Fleet([vehicle]).poll()
    halt(engineer_api, bad_id)
    assert not Rollout.objects.filter(reverts_id=bad_id).exists()  # `stop` reverts nothing

    answer = engineer_api.post(
        f"/api/v1/manage/rollouts/{bad_id}/revert",
        {"reason": "crash loop on hu-gen7"},
        format="json",
    )

    assert answer.status_code == 200, answer.json()
    assert Rollout.objects.filter(reverts_id=bad_id).exists()
    assert AuditEvent.objects.get(action="rollout.reverted").reason == "crash loop on hu-gen7"
    Fleet([vehicle]).poll()
    assert head_unit(vehicle).installed.sha256 == good.sha256
