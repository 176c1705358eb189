"""A market's vehicle types (what a release must be assessed for there) are kept as cars are
provisioned and read without touching the cars: scanning them took seconds a call at a
million cars."""

import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.selectors import market_types
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
        assert market_types(market="EU") == {"Aurora", "Boreal", "Draco"}

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

    assert market_types(market="US") == {"Aurora"} and market_types(market="CN") == {"Dune"}
    assert VehicleType.objects.count() == 2
