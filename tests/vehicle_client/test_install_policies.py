"""Install policies over HTTP: the Director signs them, the reference car obeys them, and a
car that waits is counted as waiting, never as failing."""

from datetime import UTC, datetime, timedelta

import pytest

from rollouts.models import Assignment, Evaluation, Rollout
from rollouts.services import counters
from rollouts.services.evaluation import rollout_evaluate
from vehicle_client.policy import CarState

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NIGHTS = {
    "windows": [{"start": "01:00", "end": "05:00"}],
    "require_parked": True,
    "min_battery_soc_pct": 30,
}
# Two days back (cars report nothing from the future): 11:00 UTC is noon or 1 pm in Berlin,
# outside the window; 01:00 UTC the next night is 2 or 3 am, inside it.
_DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
NOON_IN_BERLIN = _DAY + timedelta(hours=11)
TWO_AM_IN_BERLIN = _DAY + timedelta(days=1, hours=1)


def at(moment: datetime):
    return lambda: moment


def stage_counts(rollout_id: int) -> dict:
    return counters.by_stage(rollout=Rollout.objects.get(pk=rollout_id))[0]


def test_a_car_outside_its_window_downloads_waits_and_installs_inside_it(
    car_over_http, publish, ship
):
    car = car_over_http(region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], install_policy=NIGHTS)

    car.clock = at(NOON_IN_BERLIN)
    first = car.poll_cycle()

    (target,) = first.offered
    assert target.policy["time_zone"] == "Europe/Berlin"  # signed by the Director, verified
    assert first.deferred == {target.ecu.serial: "outside_window"}
    assert first.installed == []
    assert (car.workdir / "downloads" / f"{bundle.sha256}.part").exists()  # fetched ahead
    assignment = Assignment.objects.get(vehicle__vin=car.vin)
    assert (assignment.status, assignment.deferral_reason) == ("deferred", "outside_window")
    assert assignment.started_at is None  # no time-out runs while it may not install
    assert stage_counts(rollout_id)["deferred_now"] == 1

    car.clock = at(TWO_AM_IN_BERLIN)
    second = car.poll_cycle()

    assert second.installed == [target.ecu.serial]
    counts = stage_counts(rollout_id)
    assert (counts["succeeded"], counts["failed"], counts["deferred_now"]) == (1, 0, 0)
    assert counts["deferred_seconds"] > 0


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (CarState(parked=False), "not_parked"),
        (CarState(battery_soc_pct=20), "battery_low"),
        (CarState(driver_defers=True), "driver_deferred"),
    ],
)
def test_inside_the_window_a_car_still_waits_for_its_conditions(
    car_over_http, publish, ship, state, reason
):
    car = car_over_http(region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], install_policy=NIGHTS)
    car.clock, car.state = at(TWO_AM_IN_BERLIN), state

    result = car.poll_cycle()

    assert list(result.deferred.values()) == [reason]
    assert Assignment.objects.get(vehicle__vin=car.vin).deferral_reason == reason


def test_a_large_download_waits_for_wifi(car_over_http, publish, ship):
    car = car_over_http(region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")  # 200 kB
    ship([bundle], install_policy={"wifi_only_above_bytes": 100_000})
    car.state = CarState(network="cellular")

    result = car.poll_cycle()

    assert list(result.deferred.values()) == ["network"]
    assert not (car.workdir / "downloads" / f"{bundle.sha256}.part").exists()
    car.state = CarState(network="wifi")
    assert car.poll_cycle().installed


def test_a_car_that_would_ignore_the_policy_is_not_offered_the_release(
    car_over_http, publish, ship
):
    older, newer = car_over_http(region="EU"), car_over_http(region="EU")
    older.policy_version = 0  # its software predates install policies
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], install_policy=NIGHTS)

    assert older.poll_cycle().offered == []
    assert newer.poll_cycle().offered


def test_a_stage_whose_cars_mostly_wait_neither_halts_nor_advances_and_says_why(
    car_over_http, publish, ship
):
    cars = [car_over_http(region="EU") for _ in range(5)]
    bundle, _ = publish(hardware_id="hu-gen7")
    plan = [{"percent": 100, "min_soak_minutes": 0, "gate": "auto", "max_duration_minutes": 60}]
    policy = {"min_finished": 1, "max_failure_rate": 0.5, "install_timeout_minutes": 30}
    _, rollout_id = ship([bundle], stages=plan, policy=policy, install_policy=NIGHTS)
    for car in cars[:4]:
        car.clock = at(NOON_IN_BERLIN)
        car.poll_cycle()
    cars[4].clock = at(TWO_AM_IN_BERLIN)
    cars[4].poll_cycle()
    rollout = Rollout.objects.get(pk=rollout_id)

    # Hours later: past the install time-out and the stage's maximum duration.
    evaluation = rollout_evaluate(
        rollout_id=rollout_id, now=rollout.stage_started_at + timedelta(hours=3)
    )

    assert evaluation.outcome == "wait"
    assert evaluation.reason["deferred"] == 4
    assert "wait for their install window" in evaluation.reason["text"]
    rollout.refresh_from_db()
    assert rollout.status == "running"
    counts = stage_counts(rollout_id)
    assert (counts["deferred_now"], counts["timed_out"], counts["failed"]) == (4, 0, 0)
    assert Evaluation.objects.filter(outcome="halt").count() == 0
