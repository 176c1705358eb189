"""An idle poll decides nothing anew, and any change to what the decision rests on reaches the
very next poll (rollouts/services/decisions.py)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from tuf.api.metadata import Metadata

from rollouts.models import Assignment, Rollout, Vehicle
from rollouts.selectors import vehicle_for_token
from rollouts.services.director import director_timestamp_current
from rollouts.services.evaluation import time_out_stale
from rollouts.services.manifests import IDLE_POLL_MISMATCHES, vehicle_manifest_receive
from rollouts.targeting import bucket
from signing.models import RoleMetadata
from tests.conftest import vehicle_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def unguarded(settings):
    """The bump itself must do the work here, not the test-only full re-decision."""
    settings.OTA_VERIFY_IDLE_POLLS = False


def offered(vehicle) -> list[str]:
    """What the vehicle's Director targets list, as the reference client verifies them."""
    return [target.path for target in vehicle.refresh_and_verify()]


def idle(vehicle):
    """Two polls: the first settles whatever changed, the second is idle."""
    assert vehicle.put_manifest().status == 200
    assert vehicle.put_manifest().status == 200


def test_an_idle_poll_is_one_read_and_one_write_without_a_transaction(car, unguarded):
    vehicle = car()
    idle(vehicle)
    signed_before = RoleMetadata.objects.count()
    with CaptureQueriesContext(connection) as queries:
        answer = vehicle.put_manifest()
    assert answer.status == 200
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    # The token with its vehicle, channel and ECU keys, then one conditional UPDATE: no lock,
    # no savepoint, no decision, nothing signed. (With DATABASE_CONN_HEALTH_CHECKS on,
    # PostgreSQL also sees Django's connection check: 3, within the budget of 4.)
    assert statements == ["SELECT", "UPDATE"], queries.captured_queries
    assert RoleMetadata.objects.count() == signed_before
    stored = Vehicle.objects.get(vin=vehicle.vin)
    assert stored.report_counter == vehicle.report_counter
    assert str(vehicle.report_counter) in stored.last_manifest


def test_a_poll_with_new_images_takes_the_full_path(car, publish, ship, unguarded):
    vehicle = car()
    idle(vehicle)
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    vehicle.poll_cycle()  # installs: the next manifest reports a new image
    with CaptureQueriesContext(connection) as queries:
        assert vehicle.put_manifest().status == 200
    assert len(queries) > 3
    assert Assignment.objects.get(vehicle__vin=vehicle.vin).status == "succeeded"


def test_a_started_rollout_reaches_the_next_poll(car, publish, ship, unguarded):
    vehicle = car()
    idle(vehicle)
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    assert vehicle.put_manifest().status == 200
    assert offered(vehicle) == [bundle.path]


def test_an_advanced_stage_reaches_the_next_poll(car, publish, ship, engineer_api, unguarded):
    bundle, _ = publish(hardware_id="hu-gen7")
    plan = [
        {"percent": 1, "min_soak_minutes": 0, "gate": "manual", "max_duration_minutes": 60},
        {"percent": 100, "min_soak_minutes": 0, "gate": "manual", "max_duration_minutes": 60},
    ]
    _, rollout_id = ship([bundle], stages=plan)
    salt = Rollout.objects.get(pk=rollout_id).salt
    vehicle = next(v for v in iter(car, None) if bucket(salt, v.vin) >= 100)  # not in stage 0
    idle(vehicle)
    assert offered(vehicle) == []
    advanced = engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/advance", format="json")
    assert advanced.status_code == 200, advanced.json()
    assert vehicle.put_manifest().status == 200
    assert offered(vehicle) == [bundle.path]


def test_a_retracting_halt_reaches_the_next_poll(car, publish, ship, engineer_api, unguarded):
    vehicle = car()
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], policy={"on_halt": "retract"})
    idle(vehicle)
    assert offered(vehicle) == [bundle.path]
    halted = engineer_api.post(
        f"/api/v1/manage/rollouts/{rollout_id}/halt", {"reason": "bad build"}, format="json"
    )
    assert halted.status_code == 200, halted.json()
    assert vehicle.put_manifest().status == 200
    assert offered(vehicle) == []


def test_a_static_cohort_member_added_reaches_the_next_poll(
    car, publish, ship, engineer_api, unguarded
):
    engineer_api.post("/api/v1/manage/cohorts", {"name": "staff", "kind": "static"}, format="json")
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], cohort="staff")
    vehicle = car()
    idle(vehicle)
    assert offered(vehicle) == []
    added = engineer_api.post(
        "/api/v1/manage/cohorts/staff/members", {"vins": [vehicle.vin]}, format="json"
    )
    assert added.status_code == 200, added.json()
    assert vehicle.put_manifest().status == 200
    assert offered(vehicle) == [bundle.path]


def test_an_edited_cohort_filter_reaches_the_next_poll(
    car, publish, ship, engineer_api, approver_api, unguarded
):
    created = engineer_api.post(
        "/api/v1/manage/cohorts",
        {"name": "us-only", "kind": "filter", "regions": ["US"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], cohort="us-only")
    # A completed rollout still offers by its cohort, and its cohort may then be edited.
    assert approver_api.post(f"/api/v1/manage/rollouts/{rollout_id}/advance").status_code == 200
    vehicle = car(region="EU")
    idle(vehicle)
    assert offered(vehicle) == []
    edited = engineer_api.patch(
        "/api/v1/manage/cohorts/us-only", {"regions": ["US", "EU"]}, format="json"
    )
    assert edited.status_code == 200, edited.json()
    assert vehicle.put_manifest().status == 200
    assert offered(vehicle) == [bundle.path]


def test_a_channel_move_reaches_the_next_poll(car, publish, ship, engineer_api, unguarded):
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], channel="beta")
    vehicle = car()
    idle(vehicle)
    assert offered(vehicle) == []
    moved = engineer_api.put(
        f"/api/v1/manage/vehicles/{vehicle.vin}/channel", {"channel": "beta"}, format="json"
    )
    assert moved.status_code == 200, moved.json()
    assert vehicle.put_manifest().status == 200
    assert offered(vehicle) == [bundle.path]


def test_a_failed_install_reported_by_event_reaches_the_next_poll(car, publish, ship, unguarded):
    vehicle = car()
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle])
    idle(vehicle)
    assignment = Assignment.objects.get(vehicle__vin=vehicle.vin)
    failed = vehicle.event("install_failed", str(assignment.pk), vehicle.primary.serial)
    assert vehicle.send_events([failed]).status == 200
    assert vehicle.put_manifest().status == 200
    assert offered(vehicle) == []


def test_a_time_out_reaches_the_next_poll(car, publish, ship, unguarded):
    vehicle = car()
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle])
    idle(vehicle)
    assignment = Assignment.objects.get(vehicle__vin=vehicle.vin)
    started = vehicle.event("download_started", str(assignment.pk), vehicle.primary.serial)
    assert vehicle.send_events([started]).status == 200
    idle(vehicle)
    later = timezone.now() + timedelta(days=1)
    assert time_out_stale(rollout=Rollout.objects.get(pk=rollout_id), now=later) == 1
    assert vehicle.put_manifest().status == 200
    assert offered(vehicle) == []


def test_director_metadata_due_is_signed_again_at_the_next_poll_for_another_day(car, unguarded):
    vehicle = car()
    idle(vehicle)
    before = Vehicle.objects.get(vin=vehicle.vin).director_targets_version
    Vehicle.objects.filter(vin=vehicle.vin).update(
        director_refresh_at=timezone.now() - timedelta(seconds=1)
    )
    answer = vehicle.put_manifest()
    assert answer.json()["director_targets_version"] == before + 1
    refreshed = Vehicle.objects.get(vin=vehicle.vin).director_refresh_at
    # Late in the new metadata's day: its expiry less the margin.
    assert timezone.now() + timedelta(hours=23) < refreshed <= timezone.now() + timedelta(days=1)


def test_an_idle_car_polling_for_three_days_costs_each_role_about_once_a_day(car, settings):
    """Metadata is signed again late in its life (signing/director.py), never served with
    less than the margin to live: three rows a car a day, not six."""
    vehicle = car()
    idle(vehicle)
    start = timezone.now()
    signed_before = RoleMetadata.objects.filter(scope=vehicle.vin, role="targets").count()
    margin = timedelta(seconds=settings.OTA_DIRECTOR_RESIGN_MARGIN_SECONDS)
    at, jitter = start, [0.8, 1.2, 1.0, 0.9, 1.1]
    for poll in range(72):
        at += timedelta(hours=jitter[poll % len(jitter)])
        if at > start + timedelta(days=3):
            break
        token_read = vehicle_for_token(token=vehicle.token, with_ecus=True)
        manifest = vehicle.manifest()
        vehicle_manifest_receive(vehicle=token_read, manifest=manifest, now=at)
        served = director_timestamp_current(vehicle=vehicle_for_token(token=vehicle.token), now=at)
        expires = Metadata.from_bytes(served).signed.expires
        assert expires - at >= margin

    signed = RoleMetadata.objects.filter(scope=vehicle.vin, role="targets").count() - signed_before
    assert 2 <= signed <= 3


def test_tests_catch_a_change_that_forgets_to_bump_a_decision_version(car, publish, ship):
    """The safety net: every idle poll in the suite re-decides in full and compares."""
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], channel="beta")
    vehicle = car(channel="beta")
    idle(vehicle)
    assert offered(vehicle) == [bundle.path]
    # Behind the services' back: no decision version moves.
    Rollout.objects.filter(pk=rollout_id).update(status="aborted")
    assert vehicle.put_manifest().status == 500
    assert len(IDLE_POLL_MISMATCHES) == 1
    assert "without bumping a decision version" in IDLE_POLL_MISMATCHES.pop()


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL only: runs in the PostgreSQL pass of CI"
)


@postgresql_only
def test_the_idle_polls_statements_are_prepared_once_per_connection(car, unguarded):
    vehicle = car()
    idle(vehicle)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any(s.startswith("SELECT t.") and "secret_hash" in s for s in prepared), prepared
    assert any(s.startswith('UPDATE "rollouts_vehicle"') for s in prepared), prepared


@postgresql_only
def test_vehicle_rows_leave_room_for_in_place_updates():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'rollouts_vehicle'")
        assert "fillfactor=80" in cursor.fetchone()[0]


def test_a_vehicle_asking_for_html_still_gets_json(car):
    vehicle = car()
    answer = vehicle_api(vehicle.token).put(
        f"/api/v1/vehicles/{vehicle.vin}/manifest",
        vehicle.manifest(),
        format="json",
        HTTP_ACCEPT="text/html",
    )
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json"
    assert "poll_after" in answer.json()


def wal_syncs() -> int:
    """WAL flushes the whole PostgreSQL server has made so far (this backend's counts sent)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT wal_sync FROM pg_stat_wal")
        return cursor.fetchone()[0]


def syncs_during(polls) -> int:
    before = wal_syncs()
    polls()
    return wal_syncs() - before


@postgresql_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_idle_poll_does_not_wait_for_the_wal_flush(car, unguarded, settings):
    settings.OTA_VEHICLE_RATE = "1000/min"  # 160 polls in a few seconds
    vehicle = car()
    idle(vehicle)

    def polls():
        for _ in range(POLLS):
            assert vehicle.put_manifest().status == 200

    settings.OTA_IDLE_POLL_ASYNC_COMMIT = False
    assert syncs_during(polls) >= POLLS  # each commit waits for its flush
    settings.OTA_IDLE_POLL_ASYNC_COMMIT = True
    # Other work on the server only adds flushes: the fewest of three runs is ours.
    assert min(syncs_during(polls) for _ in range(3)) <= POLLS // 4
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")  # nothing else on the connection changed
        assert cursor.fetchone()[0] == "on"


POLLS = 40
