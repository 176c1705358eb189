"""The database connection dies in the middle of a telemetry batch: the batch counts once in
full after the car sends it again, or not at all. PostgreSQL, which a real server would lose
a connection to; the kill lands on every write of the unit in turn, then at random."""

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from rollouts.models import Assignment, HealthWindow, InstallEvent, Rollout
from rollouts.services.counters import totals

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="PostgreSQL only: runs in the PostgreSQL pass of CI",
    ),
]

WRITES = ("INSERT", "UPDATE", "DELETE")


class Killer:
    """Terminates this process's backend just before its `at`-th write (from another
    connection, as a failover or an operator's pg_terminate_backend would)."""

    def __init__(self):
        self.at, self.writes, self.killed = None, 0, 0

    def __call__(self, execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(WRITES):
            self.writes += 1
            if self.writes == self.at:
                self.killed += 1
                with psycopg.connect(_dsn(), autocommit=True) as other:
                    other.execute(
                        "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
                    )
        return execute(sql, params, many, context)


def _dsn() -> str:
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in {"dbname", "user", "host", "port", "password"}}
    )


def send(vehicle, kind: str, items: list[dict], killer: Killer, at: int | None):
    """One attempt with the kill armed; then what a server does after a request: a connection
    that broke is closed, and the next request opens a new one."""
    killer.at, killer.writes = at, 0
    key = "events" if kind == "events" else "windows"
    with connection.execute_wrapper(killer):
        answer = vehicle._json("POST", f"/vehicles/{vehicle.vin}/{kind}", {key: items})
    connection.close_if_unusable_or_obsolete()
    return answer


@pytest.fixture
def in_rollout(car, publish, ship, settings):
    settings.OTA_VEHICLE_RATE = "100000/min"  # hundreds of batches from one car, on purpose
    vehicle = car()
    vehicle.transport.client.raise_request_exception = False
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    assert vehicle.put_manifest().status == 200
    return vehicle, Assignment.objects.get()


def writes_of(vehicle, kind: str, items: list[dict], killer: Killer) -> int:
    """How many writes one batch of this kind makes, counted on a batch that is kept."""
    assert send(vehicle, kind, items, killer, None).status == 200
    return killer.writes


def windows(vehicle, number: int) -> list[dict]:
    """Batch `number`: two windows of its own two hours, none overlapping another batch's."""
    start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=2 * number)
    return [
        vehicle.health_window(hours=1, end=start + timedelta(hours=1)),
        vehicle.health_window(hours=0.5, end=start + timedelta(hours=2)),
    ]


def test_health_batches_killed_at_every_write_count_once_after_the_retry(in_rollout):
    vehicle, assignment = in_rollout
    killer, rng = Killer(), random.Random(7)
    writes = writes_of(vehicle, "health", windows(vehicle, 0), killer)
    assert writes >= 2  # the windows, and the counters
    batches = 200
    for number in range(1, batches + 1):
        # Each write in turn, then at random: the kill lands everywhere in the unit.
        at = number if number <= writes else rng.randint(1, writes)
        batch = windows(vehicle, number)
        first = send(vehicle, "health", batch, killer, at)
        assert first.status == 500, first.body
        again = send(vehicle, "health", batch, killer, None)
        assert again.json() == {"accepted": 2, "duplicates": 0}
    assert killer.killed == batches
    assert HealthWindow.objects.filter(vehicle__vin=vehicle.vin).count() == 2 * (batches + 1)
    numbers = totals(rollout=Rollout.objects.get(pk=assignment.rollout_id))
    assert numbers["control_seconds"] == (batches + 1) * (3600 + 1800)


def test_an_event_batch_killed_at_every_write_counts_once_after_the_retry(in_rollout):
    vehicle, assignment = in_rollout
    killer = Killer()
    correlation = str(assignment.pk)
    started = [vehicle.event("download_started", correlation, "HU")]
    failed = [vehicle.event("install_failed", correlation, "HU", error_code="E42")]
    writes = None
    for batch in (started, failed):
        for at in range(1, 20):
            answer = send(vehicle, "events", batch, killer, at)
            if answer.status == 200:  # `at` is past this batch's last write: kept whole
                writes = at - 1
                break
            assert answer.status == 500
        assert send(vehicle, "events", batch, killer, None).json() == {
            "accepted": 0,
            "duplicates": 1,
        }
    assert writes is not None and writes >= 3  # the event, the assignment, the counters
    assert InstallEvent.objects.count() == 2
    numbers = totals(rollout=Rollout.objects.get(pk=assignment.rollout_id))
    assert (numbers["downloading"], numbers["failed_install"], numbers["finished"]) == (1, 1, 1)
