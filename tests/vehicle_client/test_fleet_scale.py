"""Thousands of vehicles through a staged rollout, and a staged halt over real HTTP."""

from datetime import timedelta

import pytest

from ota.inprocess import InProcessTransport
from rollouts.models import Assignment, Rollout
from rollouts.services.counters import by_stage
from rollouts.services.evaluation import rollout_evaluate
from tests.factories import make_vin
from vehicle_client.client import VehicleClient
from vehicle_client.ecu import SimEcu
from vehicle_client.simulation import Fleet

pytestmark = pytest.mark.slow


def bulk_fleet(engineer_api, tmp_path, count: int, **client_options) -> list[VehicleClient]:
    """Provision through the bulk API, a thousand at a time, as a factory would."""
    cars, pending = [], []
    for _ in range(count):
        vin = make_vin()
        pending.append(
            (
                vin,
                [
                    SimEcu(f"T-{vin[-8:]}", "tcu-gen3", primary=True),
                    SimEcu(f"H-{vin[-8:]}", "hu-gen7"),
                ],
            )
        )
    for start in range(0, count, 1000):
        chunk = pending[start : start + 1000]
        answer = engineer_api.post(
            "/api/v1/manage/vehicles/bulk",
            {
                "vehicles": [
                    {
                        "vin": vin,
                        "model": "Aurora",
                        "region": "EU",
                        "ecus": [e.provisioning() for e in ecus],
                    }
                    for vin, ecus in chunk
                ]
            },
            format="json",
        )
        assert answer.status_code == 201, answer.json()
        tokens = {v["vin"]: v["token"] for v in answer.json()["vehicles"]}
        for vin, ecus in chunk:
            cars.append(
                VehicleClient(
                    client_options.get("base_url", "http://testserver"),
                    vin,
                    tokens[vin],
                    ecus,
                    tmp_path / vin,
                    transport=client_options.get("transport"),
                )
            )
    return cars


@pytest.mark.fleet
@pytest.mark.django_db
def test_two_thousand_vehicles_take_a_good_release_stage_by_stage(
    engineer_api, tmp_path, repos, publish, ship, settings
):
    settings.OTA_VERIFY_IDLE_POLLS = False  # a scale test: idle polls as in production
    cars = bulk_fleet(engineer_api, tmp_path, 2000, transport=InProcessTransport())
    fleet = Fleet(cars)
    bundle, _ = publish(hardware_id="hu-gen7")
    plan = [
        {"percent": 5, "min_soak_minutes": 120, "gate": "auto", "max_duration_minutes": 1440},
        {"percent": 30, "min_soak_minutes": 240, "gate": "auto", "max_duration_minutes": 2880},
        {"percent": 100, "min_soak_minutes": 240, "gate": "auto", "max_duration_minutes": 2880},
    ]
    policy = {"max_failure_rate": 0.05, "min_finished": 50, "min_exposure_hours": 100}
    _, rollout_id = ship([bundle], stages=plan, policy=policy)

    offered_by_stage = []
    for index, stage in enumerate(plan):
        fleet.poll()
        fleet.drive(hours=3, crashes_per_hour=lambda car: 0.02)  # ~100 cars x 3 h: ample
        rollout = Rollout.objects.get(pk=rollout_id)
        early = rollout.stage_started_at + timedelta(minutes=stage["min_soak_minutes"] - 1)
        assert rollout_evaluate(rollout_id=rollout_id, now=early).outcome == "wait"
        offered_by_stage.append(Assignment.objects.filter(rollout_id=rollout_id).count())
        late = rollout.stage_started_at + timedelta(minutes=stage["min_soak_minutes"] + 1)
        evaluation = rollout_evaluate(rollout_id=rollout_id, now=late)
        assert evaluation.outcome == ("complete" if index == len(plan) - 1 else "advance"), (
            evaluation.numbers
        )

    assert Rollout.objects.get(pk=rollout_id).status == "completed"
    first, second, third = offered_by_stage
    assert 60 <= first <= 140  # about 5% of 2,000
    assert 480 <= second <= 720  # about 30%
    assert third == 2000
    stages = by_stage(rollout=Rollout.objects.get(pk=rollout_id))
    assert sum(s["succeeded"] for s in stages.values()) == 2000
    assert [stages[i]["offered"] for i in range(3)] == [first, second - first, third - second]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_over_http_a_staged_rollout_halts_on_a_critical_error_and_stops_offering(
    live_server, engineer_api, tmp_path, repos, publish, ship
):
    cars = bulk_fleet(engineer_api, tmp_path, 40, base_url=live_server.url)
    for vehicle in cars:
        vehicle.bootstrap()
    bundle, _ = publish(hardware_id="hu-gen7")
    plan = [
        {"percent": 50, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
        {"percent": 100, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
    ]
    ship([bundle], stages=plan, policy={"critical_error_codes": ["E_BRICKED"]})

    outcomes = []
    for vehicle in cars:  # real poll cycles: TUF refresh, full verification, download
        result = (
            vehicle.poll_cycle(outcome="failure", error_code="E_BRICKED")
            if not outcomes
            else vehicle.poll_cycle()
        )
        if result.offered:
            outcomes.append(result)

    rollout = Rollout.objects.get()
    assert rollout.status == "halted"
    assert rollout.halt_reason["value"] == "E_BRICKED"
    assert len(outcomes) == 1  # after the first install failed, nobody else was offered it
