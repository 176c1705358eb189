"""The evaluator reads counters, never events: its queries do not grow with telemetry."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollouts.models import Assignment, Channel, InstallEvent, Vehicle
from rollouts.services.evaluation import rollout_evaluate

pytestmark = pytest.mark.django_db


def test_an_evaluation_makes_the_same_queries_with_ten_or_ten_thousand_events(publish, ship):
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle])
    stable = Channel.objects.get(name="stable")
    Vehicle.objects.bulk_create(
        Vehicle(vin=f"EVAL{n:013d}", model="Aurora", region="EU", channel=stable) for n in range(50)
    )
    assignments = Assignment.objects.bulk_create(
        Assignment(rollout_id=rollout_id, vehicle=v) for v in Vehicle.objects.all()
    )

    def store(n):
        InstallEvent.objects.bulk_create(
            InstallEvent(
                id=uuid.uuid4(),
                vehicle_id=assignments[i % 50].vehicle_id,
                assignment=assignments[i % 50],
                type="download_started",
                at=datetime.now(UTC),
            )
            for i in range(n)
        )

    def queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            rollout_evaluate(rollout_id=rollout_id)
        return [q["sql"] for q in captured.captured_queries]

    store(10)
    few = queries()
    store(10_000)
    many = queries()

    assert len(many) == len(few) <= 12
    assert not any("rollouts_installevent" in sql for sql in many)
