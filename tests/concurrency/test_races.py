"""Races that only a real database with concurrent connections can show (PostgreSQL)."""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection, connections

from ota.inprocess import InProcessTransport
from rollouts.models import Assignment, Rollout
from rollouts.services.counters import by_stage
from rollouts.services.rollouts import rollout_halt
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
                transport=InProcessTransport(),
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

    stage = by_stage(rollout=Rollout.objects.get(pk=rollout_id))[0]
    assert stage["offered"] == 12
    assert stage["downloading"] == 12  # entered once per assignment, however many threads raced
    assert stage["installing"] == 12
    assert set(Assignment.objects.values_list("status", flat=True)) == {"installing"}


def test_many_threads_incrementing_one_counter_lose_nothing(publish, ship):
    from rollouts.services.counters import count

    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle])

    def add(index):
        for _ in range(50):
            count(rollout_id=rollout_id, stage_index=0, treated_crashes=1, treated_seconds=3600)

    in_threads(add, 16)
    stage = by_stage(rollout=Rollout.objects.get(pk=rollout_id))[0]
    assert (stage["treated_crashes"], stage["treated_seconds"]) == (800, 800 * 3600)


def test_a_halt_amid_sixty_concurrent_polls_never_offers_after_it_commits(
    engineer_api, tmp_path, publish, ship, approver_api
):
    """Load, beside the deterministic interleavings below: twenty cars poll before the halt,
    twenty while it is under way and twenty after it committed, all at once in threads. Every
    poll finishes (no deadlock); none offers after the halt; those after get nothing."""
    from django.contrib.auth.models import User

    cars = provisioned(engineer_api, tmp_path, 60)
    before, after = cars[:20], cars[40:]  # cars[20:40] poll while the halt is under way
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], policy={"on_halt": "stop"})
    early_done = threading.Semaphore(0)
    halt_started, halt_done = threading.Event(), threading.Event()
    halted_at = {}

    def poll(car, wait_for=None):
        if wait_for is not None:
            assert wait_for.wait(timeout=60)
        assert car.put_manifest().status == 200

    def halt():
        for _ in before:
            assert early_done.acquire(timeout=60)
        halt_started.set()
        rollout_halt(
            rollout=Rollout.objects.get(pk=rollout_id),
            actor=User.objects.get(username="ada"),
            reason="race test",
        )
        halted_at["at"] = datetime.now(UTC)  # autocommit: the halt is committed here
        halt_done.set()

    def work(index):
        if index == len(cars):
            halt()
        elif index < 20:
            poll(cars[index])
            early_done.release()
        elif index < 40:
            poll(cars[index], halt_started)
        else:
            poll(cars[index], halt_done)

    in_threads(work, len(cars) + 1)
    offers = Assignment.objects.filter(rollout_id=rollout_id)
    assert set(offers.values_list("vehicle__vin", flat=True)) >= {c.vin for c in before}
    assert not offers.filter(created_at__gt=halted_at["at"]).exists()
    assert not offers.filter(vehicle__vin__in=[c.vin for c in after]).exists()


# --- deterministic interleavings ---------------------------------------------------------------
# A thread stops at a chosen point inside its transaction and waits until the other thread is
# either blocked on a lock (seen in pg_locks) or finished. No sleeps decide the order, so the
# outcome does not depend on timing, and a missing lock makes the test fail every time.


def a_halt_waits_for_the_decision_lock() -> bool:
    # pg_locks is read live (pg_stat_activity would be a snapshot taken once per transaction).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0] > 0


def someone_waits_for_my_transaction() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid' "
            "AND transactionid::text = pg_current_xact_id()::text"
        )
        return cursor.fetchone()[0] > 0


def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)


def halt_while_a_poll_decides(car, rollout_id, monkeypatch) -> datetime:
    """The poll reads the rollout as running and decides; then a halt is asked. The poll goes
    on once the halt waits for it (locked) or has committed (no lock). Returns when the halt
    committed."""
    from django.contrib.auth.models import User

    from rollouts.services import director

    decided, halted = threading.Event(), threading.Event()
    committed = {}
    real_decide = director.decide

    def decide_then_let_the_halt_in(*args, **kwargs):
        decision = real_decide(*args, **kwargs)
        decided.set()
        wait_until(
            lambda: halted.is_set() or a_halt_waits_for_the_decision_lock(),
            "the halt has committed or waits for this poll",
        )
        return decision

    monkeypatch.setattr(director, "decide", decide_then_let_the_halt_in)

    def poll():
        assert car.put_manifest().status == 200

    def halt():
        wait_until(decided.is_set, "the poll has decided")
        rollout_halt(
            rollout=Rollout.objects.get(pk=rollout_id),
            actor=User.objects.get(username="ada"),
            reason="race test",
        )
        committed["at"] = datetime.now(UTC)  # autocommit: the halt is committed here
        halted.set()

    in_threads(lambda index: (poll, halt)[index](), 2)
    monkeypatch.setattr(director, "decide", real_decide)
    return committed["at"]


def test_a_halt_asked_while_a_poll_decides_waits_for_it_and_no_offer_follows(
    engineer_api, tmp_path, publish, ship, approver_api, monkeypatch
):
    deciding, newcomer = provisioned(engineer_api, tmp_path, 2)
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], policy={"on_halt": "stop"})

    halted_at = halt_while_a_poll_decides(deciding, rollout_id, monkeypatch)

    offer = Assignment.objects.get(vehicle__vin=deciding.vin)
    assert offer.created_at < halted_at  # the offer made while deciding landed before the halt
    assert Rollout.objects.get(pk=rollout_id).status == "halted"
    newcomer.put_manifest()
    assert not Assignment.objects.filter(vehicle__vin=newcomer.vin).exists()


def test_without_the_decision_lock_the_same_interleaving_offers_after_the_halt(
    engineer_api, tmp_path, publish, ship, approver_api, monkeypatch
):
    """The harness above has the power to catch a missing lock: with it switched off, the
    poll offers the halted release after the halt committed, every time."""
    from rollouts import locks

    monkeypatch.setattr(locks, "_lock", lambda function: None)
    [deciding] = provisioned(engineer_api, tmp_path, 1)
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], policy={"on_halt": "stop"})

    halted_at = halt_while_a_poll_decides(deciding, rollout_id, monkeypatch)

    assert Assignment.objects.get(vehicle__vin=deciding.vin).created_at > halted_at


def test_polls_of_two_vehicles_on_one_channel_do_not_wait_for_each_other(
    engineer_api, tmp_path, publish, ship, monkeypatch
):
    """A poll locks its own vehicle's row and nothing shared: another car of the same channel
    gets through while the first is still deciding (it once locked the channel row too)."""
    from rollouts.services import director

    first, second = provisioned(engineer_api, tmp_path, 2)
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    deciding, second_done = threading.Event(), threading.Event()
    real_decide = director.decide

    def first_waits_for_the_second(*args, **kwargs):
        if not deciding.is_set():
            deciding.set()
            wait_until(second_done.is_set, "the other car's poll is through")
        return real_decide(*args, **kwargs)

    monkeypatch.setattr(director, "decide", first_waits_for_the_second)

    def poll(index):
        if index == 0:
            assert first.put_manifest().status == 200
        else:
            wait_until(deciding.is_set, "the first poll is deciding")
            assert second.put_manifest().status == 200
            second_done.set()

    in_threads(poll, 2)
    assert Assignment.objects.count() == 2


def test_two_evaluators_at_once_advance_a_stage_once(publish, ship, monkeypatch):
    from audit.models import AuditEvent
    from rollouts.models import Evaluation
    from rollouts.services import evaluation
    from rollouts.services.counters import count

    bundle, _ = publish(hardware_id="hu-gen7")
    plan = [
        {"percent": 10, "min_soak_minutes": 0, "gate": "auto", "max_duration_minutes": 60},
        {"percent": 100, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
    ]
    policy = {"min_finished": 10, "max_failure_rate": 0.05, "min_exposure_hours": 100}
    _, rollout_id = ship([bundle], stages=plan, policy=policy)
    # A healthy first stage: installs fine, and the same rates as the control group.
    same = {f"{group}_{m}": 2000 for group in ("treated", "control") for m in HEALTH}
    count(
        rollout_id=rollout_id,
        stage_index=0,
        offered=500,
        succeeded=500,
        **same,
        treated_seconds=20_000 * 3600,
        control_seconds=20_000 * 3600,
    )

    first_in, real = threading.Event(), evaluation.counters.totals

    def first_holds_the_rollout_until_the_second_waits(**kwargs):
        if not first_in.is_set():
            first_in.set()
            wait_until(someone_waits_for_my_transaction, "the second evaluator waits for the first")
        return real(**kwargs)

    # Read under the rollout's lock: the first evaluator holds it while the second waits.
    monkeypatch.setattr(
        evaluation.counters, "totals", first_holds_the_rollout_until_the_second_waits
    )

    def evaluate(index):
        if index == 1:
            wait_until(first_in.is_set, "the first evaluator holds the rollout")
        evaluation.rollout_evaluate(rollout_id=rollout_id)

    in_threads(evaluate, 2)

    assert sorted(Evaluation.objects.values_list("outcome", flat=True)) == ["advance", "wait"]
    assert Rollout.objects.get(pk=rollout_id).stage_index == 1
    assert AuditEvent.objects.filter(action="rollout.advanced").count() == 1


HEALTH = ("crashes", "reboots", "dtcs")
