"""Through real polls and reports, each car counts in its own counter slot and readers sum
the slots (issue 24)."""

import pytest

from rollouts.models import Assignment, Rollout, RolloutCounter
from rollouts.services.counters import by_rollout_and_stage, slot_of, totals

pytestmark = pytest.mark.django_db


def test_each_car_counts_its_offer_and_its_install_in_its_own_slot(car, publish, ship, settings):
    settings.OTA_COUNTER_SLOTS = 4
    cars = [car() for _ in range(5)]
    bundle, _ = publish(hardware_id="hu-gen7")
    rollout = Rollout.objects.get(pk=ship([bundle])[1])

    for vehicle in cars:
        vehicle.put_manifest()
        assignment = Assignment.objects.get(vehicle__vin=vehicle.vin)
        event = vehicle.event("download_started", str(assignment.pk), vehicle.primary.serial)
        assert vehicle.send_events([event]).status == 200

    slots = {a.vehicle_id: slot_of(a.vehicle_id) for a in Assignment.objects.all()}
    for row in RolloutCounter.objects.filter(rollout=rollout):
        mine = [v for v, s in slots.items() if s == row.slot]
        assert (row.offered, row.downloading) == (len(mine), len(mine)), row.slot
    assert totals(rollout=rollout)["offered"] == 5
    assert by_rollout_and_stage(rollout_ids=[rollout.pk])[rollout.pk][0]["downloading"] == 5
