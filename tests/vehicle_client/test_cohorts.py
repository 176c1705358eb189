"""A rollout narrowed to a cohort reaches only its vehicles, through the reference client."""

import pytest

from rollouts import selectors
from rollouts.models import Cohort, Rollout, Vehicle
from rollouts.services.counters import totals
from rollouts.services.director import cohort_rule, vehicle_state
from rollouts.targeting import in_cohort
from vehicle_client.simulation import Fleet

pytestmark = pytest.mark.django_db


def static_cohort(engineer_api, name, vins):
    assert (
        engineer_api.post(
            "/api/v1/manage/cohorts", {"name": name, "kind": "static"}, format="json"
        ).status_code
        == 201
    )
    if vins:
        added = engineer_api.post(
            f"/api/v1/manage/cohorts/{name}/members", {"vins": vins}, format="json"
        )
        assert added.status_code == 200, added.json()


def filter_cohort(engineer_api, name, **parts):
    created = engineer_api.post(
        "/api/v1/manage/cohorts", {"name": name, "kind": "filter", **parts}, format="json"
    )
    assert created.status_code == 201, created.json()


def offered(cars) -> set[str]:
    return {c.vin for c in cars if c.poll_cycle().offered}


def test_a_static_cohort_rollout_reaches_only_the_listed_cars_and_later_additions(
    car, publish, ship, engineer_api
):
    cars = [car() for _ in range(5)]
    static_cohort(engineer_api, "engineering", [cars[0].vin, cars[1].vin])
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], cohort="engineering")

    assert offered(cars) == {cars[0].vin, cars[1].vin}

    engineer_api.post(
        "/api/v1/manage/cohorts/engineering/members", {"vins": [cars[2].vin]}, format="json"
    )
    assert offered(cars[2:]) == {cars[2].vin}


def test_a_car_taken_off_the_list_keeps_an_offer_it_already_has(car, publish, ship, engineer_api):
    listed = car()
    static_cohort(engineer_api, "engineering", [listed.vin])
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], cohort="engineering")
    listed.put_manifest()  # offered, not yet installed

    engineer_api.post(
        "/api/v1/manage/cohorts/engineering/members/remove", {"vins": [listed.vin]}, format="json"
    )

    assert [t.path for t in listed.poll_cycle().offered] == [bundle.path]


def test_a_filter_on_installed_software_reaches_the_cars_still_on_it(
    car, publish, ship, engineer_api
):
    eu_cars = [car(region="EU") for _ in range(3)]
    us_cars = [car(region="US") for _ in range(3)]
    first, _ = publish(hardware_id="hu-gen7")
    filter_cohort(engineer_api, "eu", regions=["EU"])
    ship([first], cohort="eu")
    assert offered(eu_cars + us_cars) == {c.vin for c in eu_cars}

    # The fix for the old head-unit firmware goes only to cars still on it: here the US cars.
    fix, _ = publish(hardware_id="hu-gen7")
    filter_cohort(
        engineer_api,
        "old-head-unit",
        installed=[{"hardware_id": "hu-gen7", "max_counter": first.release_counter - 1}],
    )
    ship([fix], cohort="old-head-unit")

    assert offered(eu_cars + us_cars) == {c.vin for c in us_cars}


def test_health_of_a_car_that_left_the_filter_by_installing_counts_as_treated(
    car, publish, ship, engineer_api
):
    cars = [car() for _ in range(4)]
    bundle, _ = publish(hardware_id="hu-gen7")
    filter_cohort(
        engineer_api,
        "factory-head-unit",
        installed=[{"hardware_id": "hu-gen7", "max_counter": 0}],
    )
    _, rollout_id = ship([bundle], cohort="factory-head-unit")
    fleet = Fleet(cars)

    fleet.poll()
    fleet.drive(hours=2, crashes_per_hour=lambda car: 0.0)

    counters = totals(rollout=Rollout.objects.get(pk=rollout_id))
    assert counters["succeeded"] == 4
    assert counters["treated_seconds"] == 4 * 2 * 3600
    assert counters["control_seconds"] == 0


def test_the_cohort_query_and_the_decision_agree_on_who_is_in(car, publish, ship, engineer_api):
    """`selectors.cohort_vehicles` (sizes, lists) and `targeting.in_cohort` (offers) are two
    forms of one rule; on a varied fleet they pick the same vehicles."""
    fleet = [
        car(region=region, model=model, hardware=hardware)
        for region, model, hardware in [
            ("EU", "Aurora", ("tcu-gen3", "hu-gen7")),
            ("EU", "Ember", ("tcu-gen3", "hu-gen7")),
            ("US", "Aurora", ("tcu-gen3",)),
            ("US", "Ember", ("hu-gen7",)),
            ("CN", "Aurora", ("tcu-gen3", "hu-gen7", "bms-v2")),
        ]
    ]
    old, _ = publish(hardware_id="hu-gen7")
    ship([old], regions=["EU"])
    for vehicle in fleet:
        vehicle.poll_cycle()
        vehicle.put_manifest()  # reports what it installed
    filters = {
        "aurora": {"models": ["Aurora"]},
        "eu-or-cn": {"regions": ["EU", "CN"]},
        "with-bms": {"hardware_ids": ["bms-v2"]},
        "hu-updated": {"installed": [{"hardware_id": "hu-gen7", "min_counter": 1}]},
        "hu-factory": {"installed": [{"hardware_id": "hu-gen7", "max_counter": 0}]},
        "hu-version": {"installed": [{"hardware_id": "hu-gen7", "versions": [old.version]}]},
        "hu-range": {
            "installed": [
                {"hardware_id": "hu-gen7", "min_counter": 0, "max_counter": old.release_counter}
            ]
        },
        "aurora-eu-hu": {
            "models": ["Aurora"],
            "regions": ["EU"],
            "installed": [{"hardware_id": "hu-gen7", "versions": [old.version]}],
        },
    }
    for name, parts in filters.items():
        filter_cohort(engineer_api, name, **parts)

    for cohort in Cohort.objects.all():
        by_query = set(selectors.cohort_vehicles(cohort=cohort).values_list("vin", flat=True))
        by_rule = {
            v.vin for v in Vehicle.objects.all() if in_cohort(vehicle_state(v), cohort_rule(cohort))
        }
        assert by_query == by_rule, cohort.name
        assert 0 < len(by_rule) < len(fleet), cohort.name  # each filter tells cars apart
