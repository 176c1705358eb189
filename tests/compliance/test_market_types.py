"""A market's vehicle types (what a release must be assessed for there) are kept as cars are
provisioned and read without touching the cars: scanning them took seconds a call at a
million cars."""

import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.selectors import register
from rollouts.models import Channel, Vehicle, VehicleType

pytestmark = pytest.mark.django_db


def test_a_markets_types_are_its_cars_models_and_its_register_entries_each_once(
    car, aurora_rxswins, homologation_api
):
    for region, model in [("EU", "Aurora"), ("EU", "Aurora"), ("EU", "Boreal"), ("CN", "Cirrus")]:
        car(region=region, model=model)
    aurora_rxswins("EU")
    registered = homologation_api.post(
        "/api/v1/manage/rxswins",
        {"model": "Draco", "market": "EU", "rxswin": "R156-DRA-EU-0001"},
        format="json",
    )
    assert registered.status_code == 201

    with CaptureQueriesContext(connection) as queries:
        assert register(market="EU").types("EU") == {"Aurora", "Boreal", "Draco"}

    assert not [q for q in queries if '"rollouts_vehicle"' in q["sql"]]
    assert list(VehicleType.objects.values_list("market", "model")) == [
        ("CN", "Cirrus"),
        ("EU", "Aurora"),
        ("EU", "Boreal"),
    ]


def test_the_migration_finds_the_types_of_the_cars_already_there():
    stable = Channel.objects.get(name="stable")
    Vehicle.objects.bulk_create(  # as if loaded before the table existed
        Vehicle(vin=f"MIGR{n:013d}", model=model, region=region, channel=stable)
        for n, (region, model) in enumerate([("US", "Aurora"), ("US", "Aurora"), ("CN", "Dune")])
    )
    migration = importlib.import_module("rollouts.migrations.0026_vehicle_types")

    migration.types_of_the_fleet(apps, None)
    migration.types_of_the_fleet(apps, None)  # again: nothing twice

    assert register(market="US").types("US") == {"Aurora"}
    assert register(market="CN").types("CN") == {"Dune"}
    assert VehicleType.objects.count() == 2


def _markets_statements(api) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/v1/manage/markets").status_code == 200
    return len(queries)


def test_the_markets_overview_costs_the_same_statements_for_one_release_as_for_four(
    car, publish, ship, engineer_api, aurora_rxswins
):
    car(region="EU")
    aurora_rxswins("EU", "US", "CN")
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], version="11.0.0")
    one = _markets_statements(engineer_api)
    for version in ("11.0.1", "11.0.2", "11.0.3"):
        later, _ = publish(hardware_id="hu-gen7")
        ship([later], version=version)

    overview = engineer_api.get("/api/v1/manage/markets").json()

    assert _markets_statements(engineer_api) == one <= 15
    eu = next(m for m in overview if m["market"] == "EU")
    assert {r["release"] for r in eu["releases"]} == {"11.0.0", "11.0.1", "11.0.2", "11.0.3"}
    assert eu["vehicle_types"] == [{"model": "Aurora", "rxswin": "R156-AUR-EU-0001"}]
