"""Races that only a real database with concurrent connections can show (PostgreSQL)."""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection, connections

from rollouts.models import Assignment, Rollout, RolloutCounter
from rollouts.services.rollouts import rollout_halt
from tests.transport import DjangoClientTransport
from vehicle_client.client import VehicleClient
from vehicle_client.ecu import SimEcu

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers: runs in the PostgreSQL pass of CI",
    ),
]


def in_threads(work, count: int) -> None:
    errors = []

    def run(index):
        try:
            work(index)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]


def provisioned(engineer_api, tmp_path, n: int) -> list[VehicleClient]:
    from tests.factories import make_vin

    cars = []
    for _ in range(n):
        vin = make_vin()
        ecus = [
            SimEcu(f"T-{vin[-6:]}", "tcu-gen3", primary=True),
            SimEcu(f"H-{vin[-6:]}", "hu-gen7"),
        ]
        answer = engineer_api.post(
            "/api/v1/manage/vehicles",
            {
                "vin": vin,
                "model": "Aurora",
                "region": "EU",
                "ecus": [e.provisioning() for e in ecus],
            },
            format="json",
        )
        cars.append(
            VehicleClient(
                "http://testserver",
                vin,
                answer.json()["token"],
                ecus,
                tmp_path / vin,
                transport=DjangoClientTransport(),
            )
        )
    return cars


def test_concurrent_telemetry_counts_every_event_exactly_once(
    engineer_api, tmp_path, publish, ship
):
    cars = provisioned(engineer_api, tmp_path, 12)
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle])
    for car in cars:
        car.put_manifest()
    assignments = {a.vehicle.vin: str(a.pk) for a in Assignment.objects.select_related("vehicle")}

    def report(index):
        car = cars[index % len(cars)]
        correlation = assignments[car.vin]
        # Every thread sends the same batch twice: the duplicates must not count.
        events = [
            car.event("download_started", correlation, "H"),
            car.event("install_started", correlation, "H"),
        ]
        for _ in range(2):
            assert car.send_events(events).status == 200

    in_threads(report, 24)  # two threads per car, racing on the same assignment and counters

    stage = RolloutCounter.objects.get(rollout_id=rollout_id, stage_index=0)
    assert stage.offered == 12
    assert stage.downloading == 12  # entered once per assignment, however many threads raced
    assert stage.installing == 12
    assert set(Assignment.objects.values_list("status", flat=True)) == {"installing"}


def test_many_threads_incrementing_one_counter_lose_nothing(publish, ship):
    from rollouts.services.counters import count

    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle])

    def add(index):
        for _ in range(50):
            count(rollout_id=rollout_id, stage_index=0, treated_crashes=1, treated_seconds=3600)

    in_threads(add, 16)
    stage = RolloutCounter.objects.get(rollout_id=rollout_id, stage_index=0)
    assert (stage.treated_crashes, stage.treated_seconds) == (800, 800 * 3600)


def test_a_halt_racing_with_polls_never_offers_the_release_after_it_commits(
    engineer_api, tmp_path, publish, ship, approver_api, monkeypatch
):
    cars = provisioned(engineer_api, tmp_path, 60)
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], policy={"on_halt": "stop"})
    halted_at = {}
    polled_after_halt = threading.Event()
    # Widen the window between reading the rollout and offering it, so the halt lands inside
    # it: without the lock, polls that read "running" would offer after the halt commits.
    from rollouts.services import director

    real_decide = director.decide

    def slow_decide(*args, **kwargs):
        decision = real_decide(*args, **kwargs)
        time.sleep(0.05)
        return decision

    monkeypatch.setattr(director, "decide", slow_decide)

    def poll(index):
        time.sleep(index * 0.005)  # polls spread over 300 ms; the halt comes at 150 ms
        assert cars[index].put_manifest().status == 200
        if "at" in halted_at:
            polled_after_halt.set()

    def halt():
        from django.contrib.auth.models import User

        time.sleep(0.15)
        rollout_halt(
            rollout=Rollout.objects.get(pk=rollout_id),
            actor=User.objects.get(username="ada"),
            reason="race test",
        )
        halted_at["at"] = datetime.now(UTC)  # after the commit (autocommit)

    def work(index):
        if index == len(cars):
            halt()
        else:
            poll(index)

    in_threads(work, len(cars) + 1)
    assert polled_after_halt.is_set()
    offers = Assignment.objects.filter(rollout_id=rollout_id)
    assert offers.filter(created_at__lt=halted_at["at"]).exists()  # the race was real
    assert not offers.filter(created_at__gt=halted_at["at"]).exists()
    assert offers.count() < len(cars)
    # And a vehicle that never had it polls now: nothing.
    newcomer = provisioned(engineer_api, tmp_path, 1)[0]
    newcomer.put_manifest()
    assert not Assignment.objects.filter(vehicle__vin=newcomer.vin).exists()
