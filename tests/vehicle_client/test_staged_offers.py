"""A staged rollout offers to its share of the channel, and raising it only adds vehicles."""

import pytest

from rollouts.models import Assignment, Rollout

pytestmark = pytest.mark.django_db


def test_a_ten_percent_stage_reaches_about_a_tenth_and_advancing_only_adds(
    car, publish, ship, engineer_api
):
    fleet = [car() for _ in range(120)]
    bundle, _ = publish(hardware_id="hu-gen7")
    plan = [
        {"percent": 10, "min_soak_minutes": 0, "gate": "manual", "max_duration_minutes": 60},
        {"percent": 100, "min_soak_minutes": 0, "gate": "manual", "max_duration_minutes": 60},
    ]
    _, rollout_id = ship([bundle], stages=plan)

    for vehicle in fleet:
        vehicle.put_manifest()
    first = set(Assignment.objects.values_list("vehicle__vin", flat=True))
    assert 3 <= len(first) <= 25

    assert (
        engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/advance").json()["stage_index"]
        == 1
    )
    for vehicle in fleet:
        vehicle.put_manifest()
    second = set(Assignment.objects.values_list("vehicle__vin", flat=True))
    assert first < second
    assert len(second) == 120
    stages = Assignment.objects.values_list("stage_index", flat=True)
    assert sorted(set(stages)) == [0, 1]
    assert Rollout.objects.get().status == "running"
