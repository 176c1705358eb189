"""What a full decision reads of rollouts comes in one statement (rollouts/selectors.py): the
rollouts that offer to the car, those kept for its open assignments, each with its release's
bundles once, whatever else the statement joined."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollouts.models import Channel, Rollout, Vehicle
from rollouts.selectors import vehicle_decision_reads
from tests.conftest import ALL_AT_ONCE

pytestmark = pytest.mark.django_db


def _reads(vin: str):
    vehicle = Vehicle.objects.select_related("channel").get(vin=vin)
    with CaptureQueriesContext(connection) as queries:
        reads = vehicle_decision_reads(vehicle=vehicle)
    assert len(queries) == 1
    return reads


def test_a_release_running_on_the_cars_channel_and_completed_on_a_later_one_lists_its_bundles_once(
    car, publish, ship
):
    vehicle = car(channel="beta")
    first, _ = publish(hardware_id="hu-gen7")
    second, _ = publish(hardware_id="tcu-gen3")
    _, running_id = ship([first, second], "beta", stages=ALL_AT_ONCE)
    running = Rollout.objects.get(pk=running_id)
    now = timezone.now()
    completed = Rollout.objects.create(  # as if the release had gone on and finished there
        release=running.release,
        channel=Channel.objects.get(name="stable"),
        status="completed",
        created_by=running.created_by,
        started_at=now,
        stage_started_at=now,
        finished_at=now,
        stages=ALL_AT_ONCE,
    )

    reads = _reads(vehicle.vin)

    assert {r.pk for r in reads.offering} == {running.pk, completed.pk} and not reads.kept
    for rollout in reads.offering:
        paths = [item.bundle.path for item in rollout.release.items.all()]
        assert sorted(paths) == sorted([first.path, second.path])


def test_a_paused_rollout_is_read_for_a_car_it_offered_to_and_not_for_one_it_did_not(
    car, publish, ship, engineer_api
):
    offered, other = car(), car()
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], stages=ALL_AT_ONCE)
    offered.put_manifest()
    assert engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/pause").status_code == 200

    kept = _reads(offered.vin)
    assert [r.pk for r in kept.kept] == [rollout_id] and not kept.offering
    assert kept.assigned[rollout_id].status == "offered"
    assert [a.rollout_id for a in kept.open] == [rollout_id]

    nothing = _reads(other.vin)
    assert not (nothing.offering or nothing.kept or nothing.assigned)
