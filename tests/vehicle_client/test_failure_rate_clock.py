"""Successes and failures count on one clock: when the car reports them.

A failure used to count the moment its event arrived and a success only at the car's next
manifest, an hour later: while a stage filled, the observed failure rate overstated the true
one several-fold, and a healthy build could be halted. Now a reported success counts at
once, and the next manifest confirms it (or turns it into a failure)."""

import random

import pytest

from rollouts.models import Assignment, Rollout, RolloutStatus
from rollouts.services.counters import totals
from rollouts.services.evaluation import rollout_evaluate
from vehicle_client.simulation import Fleet

pytestmark = pytest.mark.django_db


def counted(rollout_id: int) -> dict[str, int]:
    return totals(rollout=Rollout.objects.get(pk=rollout_id))


@pytest.fixture
def shipped(publish, ship):
    def ship_it(**policy):
        bundle, _ = publish(hardware_id="hu-gen7")
        stages = [
            {"percent": 100, "min_soak_minutes": 600, "gate": "auto", "max_duration_minutes": 6000}
        ]
        _, rollout_id = ship([bundle], stages=stages, policy=policy or None)
        return rollout_id

    return ship_it


def test_a_reported_success_counts_at_once_like_a_reported_failure(car, shipped):
    cars = [car() for _ in range(5)]
    rollout_id = shipped()
    fleet = Fleet(cars)
    for index, vehicle in enumerate(cars):
        # No manifest after: nobody has polled again yet.
        fleet.poll_car(vehicle, fails=lambda car, first=index == 0: first)
    numbers = counted(rollout_id)
    assert (numbers["succeeded"], numbers["failed"], numbers["finished"]) == (4, 1, 5)


def test_the_next_manifest_confirms_a_reported_success(car, shipped):
    vehicle = car()
    rollout_id = shipped()
    Fleet([vehicle]).poll_car(vehicle)
    assert vehicle.put_manifest().status == 200
    assignment = Assignment.objects.get()
    assert (assignment.status, assignment.awaiting_manifest) == ("succeeded", False)
    assert counted(rollout_id)["succeeded"] == 1


def test_a_manifest_without_the_new_image_turns_a_reported_success_into_a_failure(car, shipped):
    vehicle = car()
    rollout_id = shipped()
    assert vehicle.put_manifest().status == 200
    assignment = Assignment.objects.get()
    event = vehicle.event("install_succeeded", str(assignment.pk), vehicle.primary.serial)
    assert vehicle.send_events([event]).status == 200
    assert counted(rollout_id)["succeeded"] == 1

    assert vehicle.put_manifest().status == 200  # still the old image
    assignment.refresh_from_db()
    assert (assignment.status, assignment.awaiting_manifest) == ("failed", False)
    numbers = counted(rollout_id)
    assert (numbers["succeeded"], numbers["failed_install"], numbers["finished"]) == (0, 1, 1)


def test_a_rollback_after_a_success_replaces_the_success(car, shipped):
    vehicle = car()
    rollout_id = shipped()
    Fleet([vehicle]).poll_car(vehicle)
    assignment = Assignment.objects.get()
    rollback = vehicle.event("rollback_succeeded", str(assignment.pk), vehicle.primary.serial)
    assert vehicle.send_events([rollback]).status == 200
    numbers = counted(rollout_id)
    assert (numbers["succeeded"], numbers["rolled_back"], numbers["finished"]) == (0, 1, 1)


# --- a fleet polling hourly with jitter, evaluated as it goes ---------------------------------


def run_stage(cars, rollout_id: int, *, failure_rate: float, seed: int) -> list[str]:
    """Each car polls once at a random moment of the first hour (offered, installs, reports
    by event) and again about an hour later (±20 %, its manifest shows the image); the
    evaluator runs after every fifth poll. Returns the rollout's status after each run."""
    rng = random.Random(seed)
    fleet = Fleet(cars, seed=seed)
    polls = []
    for vehicle in cars:
        first = rng.uniform(0, 1)
        polls += [(first, 0, vehicle), (first + rng.uniform(0.8, 1.2), 1, vehicle)]
    fails = {vehicle.vin: rng.random() < failure_rate for vehicle in cars}
    statuses = []
    for done, (_, second, vehicle) in enumerate(sorted(polls, key=lambda p: (p[0], p[1])), 1):
        if second:
            assert vehicle.put_manifest().status == 200
        else:
            fleet.poll_car(vehicle, fails=lambda car: fails[car.vin])
        if done % 5 == 0:
            rollout_evaluate(rollout_id=rollout_id)
            statuses.append(Rollout.objects.get(pk=rollout_id).status)
            if statuses[-1] == RolloutStatus.HALTED:
                break
    return statuses


POLICY = {"max_failure_rate": 0.05, "min_finished": 20}


@pytest.mark.fleet
@pytest.mark.parametrize("seed", range(10))
def test_a_two_percent_build_under_a_five_percent_limit_is_never_halted(car, shipped, seed):
    cars = [car() for _ in range(150)]
    rollout_id = shipped(**POLICY)
    statuses = run_stage(cars, rollout_id, failure_rate=0.02, seed=seed)
    assert RolloutStatus.HALTED not in statuses
    assert counted(rollout_id)["finished"] == 150


@pytest.mark.fleet
@pytest.mark.parametrize("seed", range(2))
def test_a_twenty_five_percent_build_is_halted_in_its_first_stage(car, shipped, seed):
    cars = [car() for _ in range(150)]
    rollout_id = shipped(**POLICY)
    statuses = run_stage(cars, rollout_id, failure_rate=0.25, seed=seed)
    assert statuses[-1] == RolloutStatus.HALTED
    assert Rollout.objects.get(pk=rollout_id).stage_index == 0
