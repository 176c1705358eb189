"""Old per-vehicle Director versions are pruned, and vehicles still verify what remains."""

from datetime import timedelta

import pytest
from django.utils import timezone

from signing.director import director_prune
from signing.models import RoleMetadata
from signing.tasks import prune_director_metadata
from tests.vehicle_client.conftest import sign_director

pytestmark = pytest.mark.django_db


def versions(vin: str) -> dict[str, list[int]]:
    rows = RoleMetadata.objects.filter(repo="director", scope=vin).order_by("role", "version")
    found: dict[str, list[int]] = {}
    for role, version in rows.values_list("role", "version"):
        found.setdefault(role, []).append(version)
    return found


def test_all_but_the_newest_two_old_versions_go_and_the_vehicle_still_verifies(car):
    vehicle, neighbour = car(), car()
    vehicle.put_manifest()
    neighbour.put_manifest()
    assert vehicle.refresh_and_verify() == []
    for _ in range(4):
        sign_director(vehicle.vin, [])
    RoleMetadata.objects.filter(repo="director").update(
        created_at=timezone.now() - timedelta(days=2)
    )
    sign_director(vehicle.vin, [])  # today's: kept whatever its rank

    deleted = prune_director_metadata()  # what the daily schedule runs

    assert versions(vehicle.vin) == {"snapshot": [5, 6], "targets": [5, 6], "timestamp": [5, 6]}
    assert deleted == 3 * 4
    assert versions(neighbour.vin) == {"snapshot": [1], "targets": [1], "timestamp": [1]}
    assert RoleMetadata.objects.filter(repo="director", scope="", role="root").exists()
    vehicle.put_manifest()
    assert vehicle.refresh_and_verify() == []  # python-tuf walks from what it trusted to now


def test_recent_versions_are_kept_even_beyond_the_newest_two(car):
    vehicle = car()
    vehicle.put_manifest()
    for _ in range(3):
        sign_director(vehicle.vin, [])

    assert director_prune(keep=2) == 0
    assert versions(vehicle.vin)["targets"] == [1, 2, 3, 4]


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_a_walk_in_small_steps_prunes_what_one_step_does_across_vehicles_and_roles(car, batch):
    cars = [car() for _ in range(3)]
    for vehicle in cars:
        vehicle.put_manifest()
    for vehicle in cars[:2]:
        for _ in range(3):
            sign_director(vehicle.vin, [])
    RoleMetadata.objects.filter(repo="director").update(
        created_at=timezone.now() - timedelta(days=2)
    )

    assert director_prune(keep=2, batch=batch) == 2 * 3 * 2

    for vehicle in cars[:2]:
        assert versions(vehicle.vin) == {r: [3, 4] for r in ("snapshot", "targets", "timestamp")}
    assert versions(cars[2].vin) == {"snapshot": [1], "targets": [1], "timestamp": [1]}
