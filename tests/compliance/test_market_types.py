"""A market's vehicle types (what a release must be assessed for there) are read with one
DISTINCT over types: never a row per car, which at a million cars took seconds a call."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.selectors import market_types

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

    cars = next(q["sql"] for q in queries if '"rollouts_vehicle"' in q["sql"])
    assert cars.startswith('SELECT DISTINCT "rollouts_vehicle"."model" AS "model" FROM')
    assert "ORDER BY" not in cars and '"vin"' not in cars
