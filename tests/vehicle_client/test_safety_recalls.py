"""Safety recalls: every compatible car, on every channel and in every market, before the
deadline; stages that skip their soak time where the approved policy says so; every halt rule
kept."""

from datetime import timedelta

import pytest

from rollouts.models import Rollout
from rollouts.services.evaluation import rollout_evaluate
from vehicle_client.policy import CarState
from vehicle_client.simulation import Fleet, SimClock

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MARKETS = ("US", "EU", "CN")  # New York, Berlin and Shanghai: their nights are far apart
TWO_STAGES = [
    # A soak of three days each: without skipping it, stage two would open after the deadline.
    {"percent": 50, "min_soak_minutes": 3 * 1440, "gate": "auto", "max_duration_minutes": 10080},
    {"percent": 100, "min_soak_minutes": 3 * 1440, "gate": "auto", "max_duration_minutes": 10080},
]
HALT_RULES = {"max_failure_rate": 0.5, "min_finished": 3}


def recall(deadline, **more) -> dict:
    return {
        "windows": [{"start": "01:00", "end": "05:00"}],  # the car's own night
        "require_parked": True,
        "urgency": "safety_recall",
        "deadline": deadline.isoformat(),
        "max_driver_deferrals": 2,
        **more,
    }


def recall_progress(engineer_api, rollout_id: int) -> dict:
    answer = engineer_api.get(f"/api/v1/manage/rollouts/{rollout_id}")
    assert answer.status_code == 200, answer.json()
    return answer.json()["recall"]


@pytest.mark.long
def test_a_recall_reaches_every_compatible_car_in_each_market_before_its_deadline(
    car, publish, ship, engineer_api, settings
):
    settings.OTA_VEHICLE_RATE = "100000/min"  # polls every two hours for two days, in seconds
    clock = SimClock()
    by_market = {
        market: [
            car(region=market, channel=channel)
            for channel in ("stable",) * 6 + ("beta",) * 4  # beta cars need the fix too
        ]
        for market in MARKETS
    }
    compatible = [c for cars in by_market.values() for c in cars]
    no_head_unit = [car(region=market, hardware=("tcu-gen3",)) for market in MARKETS]
    fleet = Fleet([*compatible, *no_head_unit], clock=clock)
    for vehicle in fleet.cars:
        vehicle.clock = clock.now
    for cars in by_market.values():  # one driver a market says "later" while they may
        cars[0].state = CarState(driver_defers=True)
    bundle, _ = publish(hardware_id="hu-gen7")
    deadline = clock.now() + timedelta(hours=60)
    _, rollout_id = ship(
        [bundle],
        stages=TWO_STAGES,
        policy=HALT_RULES,
        install_policy=recall(deadline, skip_soak=True),
    )

    progress = recall_progress(engineer_api, rollout_id)
    assert progress["skip_soak"] is True
    assert {m["market"]: (m["affected"], m["lacking"]) for m in progress["markets"]} == {
        market: (10, 10) for market in MARKETS
    }
    older = by_market["EU"][1]
    older.policy_version = 0  # its software predates install policies: never offered

    outcomes = []
    while clock.now() < deadline - timedelta(hours=6):
        fleet.poll()
        outcomes.append(rollout_evaluate(rollout_id=rollout_id, now=clock.now()).outcome)
        clock.advance(timedelta(hours=2))  # a window of four hours sees two polls

    assert [c for c in compatible if not Fleet.updated(c)] == [older]
    assert not any(Fleet.updated(c) for c in no_head_unit)  # never offered: incompatible
    assert "advance" in outcomes and "halt" not in outcomes  # past stage one in hours, not days
    progress = recall_progress(engineer_api, rollout_id)
    assert {
        m["market"]: (m["updated"], m["lacking"], m["unreachable"]) for m in progress["markets"]
    } == {"US": (10, 0, 0), "EU": (9, 1, 1), "CN": (10, 0, 0)}
    assert progress["overdue"] is False


def test_a_bad_recall_build_still_halts(car, publish, ship):
    clock = SimClock()
    fleet = Fleet([car(region=m) for m in MARKETS for _ in range(10)], clock=clock)
    bundle, _ = publish(hardware_id="hu-gen7")
    no_windows = {"urgency": "safety_recall", "skip_soak": True}
    no_windows["deadline"] = (clock.now() + timedelta(days=2)).isoformat()
    strict = {"max_failure_rate": 0.1, "min_finished": 3}
    _, rollout_id = ship([bundle], stages=TWO_STAGES, policy=strict, install_policy=no_windows)
    three_in_four = iter(range(10**6))

    fleet.poll(fails=lambda car: next(three_in_four) % 4 != 0)
    evaluation = rollout_evaluate(rollout_id=rollout_id, now=clock.now())

    assert evaluation.outcome == "halt"
    rollout = Rollout.objects.get(pk=rollout_id)
    assert (rollout.status, rollout.stage_index) == ("halted", 0)
    assert rollout.halt_reason["metric"] == "install_failure_rate"


def test_without_skipping_its_soak_a_recall_waits_out_each_stage(car, publish, ship):
    clock = SimClock()
    fleet = Fleet([car(region="EU") for _ in range(10)], clock=clock)
    bundle, _ = publish(hardware_id="hu-gen7")
    no_windows = {"urgency": "safety_recall"}
    no_windows["deadline"] = (clock.now() + timedelta(days=2)).isoformat()
    _, rollout_id = ship([bundle], stages=TWO_STAGES, policy=HALT_RULES, install_policy=no_windows)

    fleet.poll()
    evaluation = rollout_evaluate(rollout_id=rollout_id, now=clock.now())

    assert evaluation.outcome == "wait"
    assert evaluation.numbers["stage"]["soak_skipped"] is False
