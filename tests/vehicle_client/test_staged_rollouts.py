"""Staged rollouts that advance on health and halt on trouble, with a simulated fleet."""

from datetime import timedelta

import pytest

from rollouts.models import Assignment, Evaluation, Rollout
from rollouts.services.counters import by_stage
from rollouts.services.evaluation import rollout_evaluate
from vehicle_client.simulation import Fleet

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PLAN = [
    {"percent": 20, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
    {"percent": 60, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
    {"percent": 100, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
]
LENIENT = {
    "max_failure_rate": 0.5,
    "min_finished": 3,
    "min_exposure_hours": 5,
    "max_rate_ratio": 2.0,
}


def every(n: int):
    """True for every n-th install asked about: a fixed share of installs fails."""
    asked = iter(range(10**9))
    return lambda car: next(asked) % n == 0


def evaluate(rollout_id: int, minutes_into_stage: float):
    rollout = Rollout.objects.get(pk=rollout_id)
    return rollout_evaluate(
        rollout_id=rollout_id, now=rollout.stage_started_at + timedelta(minutes=minutes_into_stage)
    )


def test_a_good_release_walks_through_every_stage_to_completion(car, publish, ship):
    fleet = Fleet([car() for _ in range(80)])
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], stages=PLAN, policy=LENIENT)

    reached = []
    for stage in range(3):
        fleet.poll()
        fleet.drive(hours=2, crashes_per_hour=lambda car: 0.05)
        assert evaluate(rollout_id, 30).outcome == "wait"  # soak not over
        reached.append(Assignment.objects.count())
        outcome = evaluate(rollout_id, 61).outcome
        assert outcome == ("complete" if stage == 2 else "advance"), (
            Evaluation.objects.first().numbers
        )

    assert Rollout.objects.get().status == "completed"
    assert reached[0] < reached[1] < reached[2] == 80
    assert 5 <= reached[0] <= 30


def test_eight_percent_install_failures_halt_the_first_stage_once_the_sample_allows(
    car, publish, ship
):
    cars = [car() for _ in range(160)]
    bundle, _ = publish(hardware_id="hu-gen7")
    policy = {"max_failure_rate": 0.02, "min_finished": 50, "on_halt": "retract"}
    plan = [
        {"percent": 60, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
        {"percent": 100, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
    ]
    _, rollout_id = ship([bundle], stages=plan, policy=policy)
    every_twelfth = every(12)  # 8.3% of installs fail

    Fleet(cars[:30]).poll(fails=every_twelfth)
    assert evaluate(rollout_id, 5).outcome == "wait"  # too few finished installs yet

    idle = cars[30:50]  # offered, but not started when the halt comes
    for vehicle in idle:
        vehicle.put_manifest()
    Fleet(cars[50:]).poll(fails=every_twelfth)
    evaluation = evaluate(rollout_id, 10)

    assert evaluation.outcome == "halt"
    rollout = Rollout.objects.get()
    assert rollout.status == "halted"
    reason = rollout.halt_reason
    assert reason["metric"] == "install_failure_rate"
    assert reason["stage"] == 0
    assert reason["threshold"] == 0.02
    assert reason["bound"] > 0.02
    assert reason["sample"]["finished"] >= 50
    assert 0.05 < reason["value"] < 0.12

    # retract: the vehicles that had not started lose the offer at their next poll
    offered_idle = [v for v in idle if Assignment.objects.filter(vehicle__vin=v.vin).exists()]
    assert offered_idle
    assert set(
        Assignment.objects.filter(vehicle__vin__in=[v.vin for v in offered_idle]).values_list(
            "status", flat=True
        )
    ) == {"retracted"}
    offered_idle[0].put_manifest()
    assert offered_idle[0].refresh_and_verify() == []
    fresh = car()
    fresh.put_manifest()
    assert not Assignment.objects.filter(vehicle__vin=fresh.vin).exists()


def test_a_tripled_crash_rate_against_control_halts_on_health(car, publish, ship):
    fleet = Fleet([car() for _ in range(80)])
    bundle, _ = publish(hardware_id="hu-gen7")
    policy = {**LENIENT, "min_exposure_hours": 50, "max_rate_ratio": 1.5}
    _, rollout_id = ship([bundle], stages=PLAN, policy=policy)

    fleet.poll()
    fleet.drive(hours=10, crashes_per_hour=lambda car: 0.3 if Fleet.updated(car) else 0.1)
    evaluation = evaluate(rollout_id, 61)

    assert evaluation.outcome == "halt"
    reason = Rollout.objects.get().halt_reason
    assert reason["metric"] == "crashes_per_hour_ratio"
    assert reason["bound"] > 1.5
    assert reason["sample"]["treated_hours"] >= 50 and reason["sample"]["control_hours"] >= 50


def test_a_single_critical_event_halts_at_once(car, publish, ship):
    fleet = Fleet([car() for _ in range(30)])
    bundle, _ = publish(hardware_id="hu-gen7")
    policy = {**LENIENT, "critical_error_codes": ["E_BRICKED"]}
    ship([bundle], stages=PLAN, policy=policy)
    once = iter([True])
    fleet.poll(fails=lambda car: next(once, False), error_code="E_BRICKED")

    rollout = Rollout.objects.get()
    assert rollout.status == "halted"  # no evaluator run needed
    assert rollout.halt_reason["metric"] == "critical_signal"
    assert rollout.halt_reason["value"] == "E_BRICKED"


def test_silent_vehicles_time_out_and_count_as_failures(car, publish, ship):
    fleet = Fleet([car() for _ in range(40)])
    bundle, _ = publish(hardware_id="hu-gen7")
    policy = {**LENIENT, "install_timeout_minutes": 120}
    _, rollout_id = ship([bundle], stages=PLAN, policy=policy)
    tally = fleet.poll(silent=lambda c: True)
    assert tally["silent"] > 0

    assert evaluate(rollout_id, 60).numbers["timed_out_now"] == 0
    evaluation = evaluate(rollout_id, 180)
    assert evaluation.numbers["timed_out_now"] == tally["silent"]
    assert evaluation.numbers["failure_rate"]["failed"] == tally["silent"]
    assert set(Assignment.objects.values_list("status", flat=True)) == {"timed_out"}


def test_an_inconclusive_stage_past_its_maximum_duration_pauses_for_a_person(car, publish, ship):
    fleet = Fleet([car() for _ in range(20)])
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], stages=PLAN, policy={"min_finished": 1000})
    fleet.poll()
    assert evaluate(rollout_id, 120).outcome == "wait"
    assert evaluate(rollout_id, 601).outcome == "pause"
    assert Rollout.objects.get().status == "paused"


def test_a_manual_gate_waits_for_a_person(car, publish, ship, engineer_api):
    fleet = Fleet([car() for _ in range(60)])
    bundle, _ = publish(hardware_id="hu-gen7")
    plan = [{**PLAN[0], "gate": "manual"}, PLAN[2]]
    _, rollout_id = ship([bundle], stages=plan, policy=LENIENT)
    fleet.poll()
    fleet.drive(hours=2, crashes_per_hour=lambda car: 0.05)
    evaluation = evaluate(rollout_id, 61)
    assert evaluation.outcome == "await_approval", evaluation.numbers
    assert Rollout.objects.get().stage_index == 0
    answer = engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/advance")
    assert answer.json()["stage_index"] == 1


def test_the_evaluate_endpoint_answers_the_stored_evaluation(car, publish, ship, engineer_api):
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], stages=PLAN, policy=LENIENT)
    answer = engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/evaluate")
    assert answer.status_code == 200
    body = answer.json()
    assert body["outcome"] == "wait"
    assert body["numbers"]["failure_rate"]["finished"] == 0
    assert Evaluation.objects.get().pk == body["id"]


def test_a_timed_out_vehicle_that_reports_the_release_installed_counts_as_succeeded(
    car, publish, ship
):
    vehicle = car()
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], policy={**LENIENT, "install_timeout_minutes": 120})
    vehicle.put_manifest()
    [target] = vehicle.refresh_and_verify()
    vehicle.send_events([vehicle.event("download_started", target.correlation_id, "H")])
    evaluate(rollout_id, 180)  # silent for three hours
    assert Assignment.objects.get().status == "timed_out"

    vehicle.install(target)  # it was only slow
    vehicle.put_manifest()  # and reports the new image

    assert Assignment.objects.get().status == "succeeded"
    counters = by_stage(rollout=Rollout.objects.get(pk=rollout_id))[0]
    assert (counters["timed_out"], counters["succeeded"]) == (
        0,
        1,
    )  # the success replaces the time-out
